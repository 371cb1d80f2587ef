"""Component identification against real packages, firmware and other tools' test data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from medsentry.config import corpus_dir
from medsentry.protect.components import ComponentMatcher, Evidence, cpe_for
from medsentry.protect.elf import analyse_elf
from medsentry.protect.packages import read_packages
from medsentry.protect.scan import ScanReport, scan_path
from medsentry.protect.unpack import Unpacker
from tests.protect.conftest import DebPackage, elf_files


def _binary_components(report: ScanReport) -> set[tuple[str, str | None]]:
    return {
        (c.name, c.version)
        for c in report.components
        if all(e.technique == "binary-analysis" for e in c.evidence)
    }


def _deb_files() -> list[str]:
    table = corpus_dir() / "protect" / "debs" / "packages.tsv"
    if not table.exists():
        return ["(reference corpus missing)"]  # the corpus fixture then skips, or fails in CI
    with open(table, newline="") as fh:
        return [row["file"] for row in csv.DictReader(fh, delimiter="\t")]


@pytest.mark.corpus
@pytest.mark.parametrize("deb_file", _deb_files())
def test_each_debian_package_yields_its_upstream_version(
    debs: list[DebPackage], deb_file: str
) -> None:
    """Scanning the .deb finds the source package at the package's upstream version."""
    package = next(p for p in debs if p.file.name == Path(deb_file).name)
    report = scan_path(package.file)
    assert _binary_components(report) == {(package.source, package.upstream_version)}
    declared = {(c.name, c.version) for c in report.components if c.type == "application"}
    assert (package.package, package.version) in declared  # from the control file


@pytest.mark.corpus
def test_per_binary_versions_are_never_wrong(debs: list[DebPackage]) -> None:
    """Every version read from a single binary equals its package's upstream version."""
    matcher = ComponentMatcher()
    versioned = identified = total = 0
    for package in debs:
        for path in elf_files(package.root):
            total += 1
            evidence = matcher.scan(path.read_bytes(), str(path), analyse_elf(path).soname)
            versions = {e.version for e in evidence if e.version}
            names = {e.component for e in evidence}
            assert names <= {package.source}, path
            assert versions <= {package.upstream_version}, path
            versioned += bool(versions)
            identified += bool(names)
    # Every binary is at least attributed to its product; most carry the version too.
    assert identified == total
    assert versioned >= total // 3


@pytest.mark.corpus
def test_synthetic_firmware_components_match_its_manifest(corpus: Path) -> None:
    folder = corpus / "protect" / "synthetic_firmware"
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    report = scan_path(folder / "firmware_armhf_synthetic.bin")

    binary = [c for c in report.components if c.cpe and c.type != "operating-system"]
    assert {c.cpe for c in binary} == {item["cpe"] for item in manifest["components"]}
    assert report.target_sha256 == manifest["firmware_sha256"]
    assert report.not_opened == []

    # Every file and link of the manifest was unpacked where the manifest says.
    prefix = "firmware_armhf_synthetic.bin!squashfs@0x10000!"
    found = {b.location.removeprefix(prefix): b for b in report.binaries}
    for entry in manifest["files"]:
        if not entry.get("elf"):
            continue
        elf = found[entry["path"]].elf
        expected = entry["checksec"]
        assert elf.relro == expected["relro"], entry["path"]
        assert ("yes" if elf.canary else "no") == expected["canary"], entry["path"]
        assert ("yes" if elf.nx else "no") == expected["nx"], entry["path"]
        assert elf.pie == expected["pie"], entry["path"]
        assert ("no" if elf.stripped else "yes") == expected["symbols"], entry["path"]
    links = {link.location.removeprefix(prefix): link.target for link in report.links}
    for entry in manifest["files"]:
        if "symlink_to" in entry:
            assert links[entry["path"]] == entry["symlink_to"]


@pytest.mark.corpus
def test_condensed_packages_of_other_tools(corpus: Path, tmp_path: Path) -> None:
    """cve-bin-tool's condensed packages: no wrong version for the products we sign."""
    folder = corpus / "protect" / "cve_bin_tool_condensed"
    ground_truth = json.loads((folder / "ground_truth_selected.json").read_text())
    ours = {
        "busybox": "busybox",
        "curl": "curl",
        "libcurl": "curl",
        "dropbear_ssh": "dropbear",
        "openssl": "openssl",
        "zlib": "zlib",
        "openssh": "openssh",
        "linux_kernel": "linux-kernel",
        "mbed_tls": "mbedtls",
        "lighttpd": "lighttpd",
        "dnsmasq": "dnsmasq",
    }
    rows = [row for row in ground_truth if row["product"] in ours]
    matcher = ComponentMatcher()
    correct = 0
    for number, row in enumerate(rows):
        work = tmp_path / str(number)
        work.mkdir()
        archive = folder / "condensed-downloads" / f"{row['package_name']}.tar.gz"
        evidence = [
            e
            for f in Unpacker(work).unpack(archive).files
            for e in matcher.scan(f.path.read_bytes(), f.location)
        ]
        versions = {
            c.version
            for c in matcher.assemble(evidence)
            if c.name == ours[row["product"]] and c.version
        }
        assert versions <= {row["version"]}, row["package_name"]
        correct += versions == {row["version"]}
    assert len(rows) >= 30
    assert correct / len(rows) >= 0.9


def test_embedded_stack_signatures_on_a_synthetic_blob() -> None:
    """Stacks without version text are still named, with lower confidence."""
    blob = (
        b"\x00" * 64
        + b"pico_stack_init\x00pico_socket_open\x00"
        + b"Server: lwIP/2.1.3 (http://savannah.nongnu.org/projects/lwip)\x00"
        + b"tfStartTreck\x00Nut/OS 5.1.0.0\x00FreeRTOS_IPInit\x00uIP/1.0\x00fnet_init\x00"
    )
    evidence = ComponentMatcher().scan(blob, "rtos.bin")
    found = {(e.component, e.version) for e in evidence}
    assert ("lwip", "2.1.3") in found
    assert ("nut-net", "5.1.0.0") in found
    assert ("uip", "1.0") in found
    for stack in ("picotcp", "treck-tcpip", "freertos-plus-tcp", "fnet"):
        assert (stack, None) in found
    assert all(e.confidence < 0.9 for e in evidence if e.version is None)


def test_presence_evidence_joins_the_nearest_version() -> None:
    matcher = ComponentMatcher()
    evidence = [
        Evidence("openssl", "3.0.20", "a.deb!/lib/libcrypto.so.3", "binary-analysis", 0.9, "x"),
        Evidence("openssl", "3.0.22", "b.deb!/lib/libcrypto.so.3", "binary-analysis", 0.9, "x"),
        Evidence("openssl", None, "b.deb!/lib/libssl.so.3", "binary-analysis", 0.5, "soname"),
        Evidence("openssh", "6.8", "c!/usr/bin/ssh", "binary-analysis", 0.9, "x"),
        Evidence("openssh", "6.8p1", "c!/usr/bin/ssh", "binary-analysis", 0.9, "x"),
    ]
    components = {(c.name, c.version): c for c in matcher.assemble(evidence)}
    assert set(components) == {("openssl", "3.0.20"), ("openssl", "3.0.22"), ("openssh", "6.8p1")}
    assert len(components[("openssl", "3.0.22")].evidence) == 2
    assert components[("openssl", "3.0.22")].confidence == pytest.approx(0.95)


def test_cpe_escaping() -> None:
    assert cpe_for("ethernut:nut\\/net", "5.1") == "cpe:2.3:a:ethernut:nut\\/net:5.1:*:*:*:*:*:*:*"
    assert cpe_for("o:linux:linux_kernel", "5.10.161").startswith("cpe:2.3:o:linux:linux_kernel:")
    assert cpe_for("openbsd:openssh", "8.0p1+x") == (
        "cpe:2.3:a:openbsd:openssh:8.0p1\\+x:*:*:*:*:*:*:*"
    )


def test_package_databases_and_release_files() -> None:
    status = (
        b"Package: busybox\nStatus: install ok installed\nArchitecture: armhf\n"
        b"Version: 1:1.35.0-4\nSource: busybox\nDescription: tiny utilities\n extended\n\n"
        b"Package: removed-tool\nStatus: deinstall ok config-files\nVersion: 1.0\n\n"
    )
    dpkg = read_packages("fw.bin!/var/lib/dpkg/status", status)
    assert [(c.name, c.version, c.purl) for c in dpkg] == [
        ("busybox", "1:1.35.0-4", "pkg:deb/debian/busybox@1:1.35.0-4?arch=armhf")
    ]
    assert dpkg[0].properties["medsentry:source_package"] == "busybox"
    opkg = read_packages(
        "fw!/usr/lib/opkg/status",
        b"Package: dropbear\nVersion: 2019.78-2\nStatus: install user installed\n"
        b"Architecture: mipsel_24kc\n",
    )
    assert opkg[0].purl == "pkg:generic/openwrt/dropbear@2019.78-2?arch=mipsel_24kc"
    release = read_packages(
        "fw!/etc/openwrt_release", b"DISTRIB_ID='OpenWrt'\nDISTRIB_RELEASE='22.03.3'\n"
    )
    assert [(c.name, c.version, c.type) for c in release] == [
        ("OpenWrt", "22.03.3", "operating-system")
    ]
    os_release = read_packages(
        "x!/etc/os-release",
        b'ID=debian\nVERSION_ID="12"\nCPE_NAME="cpe:/o:debian:debian_linux:12"\n',
    )
    assert (os_release[0].name, os_release[0].version, os_release[0].cpe) == (
        "debian",
        "12",
        "cpe:/o:debian:debian_linux:12",
    )
