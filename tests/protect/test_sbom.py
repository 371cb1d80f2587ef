"""The SBOM is valid CycloneDX (1.5 and 1.6) with purls, CPEs and evidence."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from medsentry.protect.sbom import bom_json
from medsentry.protect.scan import scan_path
from tests.protect.conftest import run_cli


def _image(tmp_path: Path) -> Path:
    files = {
        "bin/busybox": b"\x00junk\x00BusyBox v1.36.1 (2023-11-06)\x00more",
        "usr/lib/libz.so.1.3": b"\x00 deflate 1.3 Copyright 1995-2023 Jean-loup Gailly \x00",
        "var/lib/dpkg/status": b"Package: libc6\nStatus: install ok installed\n"
        b"Architecture: armhf\nVersion: 2.36-9\n\n",
        "etc/os-release": b'ID=debian\nVERSION_ID="12"\n',
    }
    image = tmp_path / "device.tar"
    with tarfile.open(image, "w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return image


@pytest.mark.parametrize(
    ("version", "schema"), [("1.5", SchemaVersion.V1_5), ("1.6", SchemaVersion.V1_6)]
)
def test_sbom_validates_and_carries_identifiers(
    tmp_path: Path, version: str, schema: SchemaVersion
) -> None:
    report = scan_path(_image(tmp_path))
    text = bom_json(report, version)
    assert JsonStrictValidator(schema).validate_str(text) is None
    document = json.loads(text)
    assert document["bomFormat"] == "CycloneDX" and document["specVersion"] == version
    assert document["metadata"]["component"]["type"] == "firmware"
    assert document["metadata"]["component"]["hashes"][0]["content"] == report.target_sha256
    by_name = {c["name"]: c for c in document["components"]}
    busybox = by_name["busybox"]
    assert busybox["version"] == "1.36.1"
    assert busybox["purl"] == "pkg:generic/busybox@1.36.1"
    assert busybox["cpe"] == "cpe:2.3:a:busybox:busybox:1.36.1:*:*:*:*:*:*:*"
    occurrences = busybox["evidence"]["occurrences"]
    assert occurrences == [{"location": "device.tar!/bin/busybox"}]
    assert by_name["zlib"]["version"] == "1.3"
    assert by_name["libc6"]["purl"] == "pkg:deb/debian/libc6@2.36-9?arch=armhf"
    assert by_name["debian"]["type"] == "operating-system"
    # Every component hangs off the scanned image.
    subject = document["metadata"]["component"]["bom-ref"]
    dependencies = {d["ref"]: d.get("dependsOn", []) for d in document["dependencies"]}
    assert set(dependencies[subject]) == {c["bom-ref"] for c in document["components"]}


def test_cli_writes_a_valid_sbom(tmp_path: Path) -> None:
    out = tmp_path / "sbom.json"
    result = run_cli("firmware", "scan", str(_image(tmp_path)), "--sbom", str(out))
    assert result.exit_code == 0, result.output
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(out.read_text()) is None
    assert "busybox" in {c["name"] for c in json.loads(out.read_text())["components"]}


@pytest.mark.corpus
def test_sbom_of_the_synthetic_firmware(corpus: Path) -> None:
    folder = corpus / "protect" / "synthetic_firmware"
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    text = bom_json(scan_path(folder / "firmware_armhf_synthetic.bin"))
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    cpes = {c.get("cpe") for c in json.loads(text)["components"]}
    assert {item["cpe"] for item in manifest["components"]} <= cpes


def test_the_know_importer_reads_our_sbom(tmp_path: Path) -> None:
    """The SBOM feeds advisory matching: the project's own CycloneDX reader accepts it."""
    from medsentry.vuln.sbom.cyclonedx import parse_cyclonedx

    result = parse_cyclonedx(bom_json(scan_path(_image(tmp_path))).encode(), "device.json")
    assert result.schema_errors == []
    imported = {c.name: c for c in result.sbom.components}
    assert imported["busybox"].purl == "pkg:generic/busybox@1.36.1"
    assert imported["busybox"].cpes == ("cpe:2.3:a:busybox:busybox:1.36.1:*:*:*:*:*:*:*",)
    assert imported["zlib"].version == "1.3"
