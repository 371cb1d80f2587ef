"""PE hardening flags agree with binutils' objdump on real Windows executables."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pip
import pytest

from medsentry.protect.pe import PeParseError, analyse_pe, is_pe
from medsentry.protect.scan import scan_path

# pip ships small Windows launcher executables; they are real PE files on every machine.
LAUNCHERS = sorted((Path(pip.__file__).parent / "_vendor" / "distlib").glob("*.exe"))


def _objdump_facts(path: Path) -> dict[str, object] | None:
    result = subprocess.run(["objdump", "-p", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        return None  # an architecture this binutils build does not know
    out = result.stdout
    flags = re.search(r"DllCharacteristics\s+([0-9a-f]+)\n((?:\t+\S+\n)*)", out)
    magic = re.search(r"Magic\s+\S+\s+\((PE32\+?)\)", out)
    security = re.search(r"Entry 4 [0-9a-f]+ ([0-9a-f]+) Security Directory", out)
    assert flags and magic and security
    names = set(flags.group(2).split())
    return {
        "bits": 64 if magic.group(1) == "PE32+" else 32,
        "aslr": "DYNAMIC_BASE" in names,
        "high_entropy_va": "HIGH_ENTROPY_VA" in names,
        "nx": "NX_COMPAT" in names,
        "cfg": "GUARD_CF" in names,
        "no_seh": "NO_SEH" in names,
        "signed": int(security.group(1), 16) > 0,
    }


def test_flags_match_objdump() -> None:
    assert shutil.which("objdump")
    compared = 0
    for path in LAUNCHERS:
        facts = _objdump_facts(path)
        if facts is None:
            continue
        report = analyse_pe(path)
        ours = {key: getattr(report, key) for key in facts}
        assert ours == facts, path.name
        compared += 1
    assert compared >= 4


def test_scan_reports_pe_files(tmp_path: Path) -> None:
    folder = tmp_path / "workstation"
    folder.mkdir()
    for path in LAUNCHERS[:3]:
        shutil.copyfile(path, folder / path.name)
    report = scan_path(folder)
    assert sorted(b.location for b in report.pe_binaries) == sorted(p.name for p in LAUNCHERS[:3])
    assert all(b.pe.machine in {"x86", "x86-64", "arm64"} for b in report.pe_binaries)


def test_dos_stub_without_pe_header_is_rejected(tmp_path: Path) -> None:
    stub = tmp_path / "old.exe"
    stub.write_bytes(b"MZ" + b"\x00" * 58 + b"\x80\x00\x00\x00" + b"\x00" * 200)
    assert not is_pe(stub.read_bytes())
    with pytest.raises(PeParseError):
        analyse_pe(stub)
