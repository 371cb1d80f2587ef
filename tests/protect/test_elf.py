"""Hardening facts agree with what binutils' readelf says about the same files."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from medsentry.protect.elf import ElfParseError, analyse_elf
from tests.protect.conftest import DebPackage, elf_files

_CANARY = {"__stack_chk_fail", "__stack_chk_guard", "__intel_security_cookie"}


@dataclass(frozen=True)
class ReadelfFacts:
    nx: bool
    pie: str
    relro: str
    canary: bool
    fortified: frozenset[str]
    stripped: bool
    debug_info: bool
    rpath: bool
    runpath: bool


def readelf_facts(path: Path) -> ReadelfFacts:
    """checksec-style facts, computed from `readelf -hlSdsW` output only."""
    out = subprocess.run(
        ["readelf", "-hlSdsW", str(path)], capture_output=True, text=True, check=True
    ).stdout
    elf_type = re.search(r"^\s*Type:\s+(\w+)", out, re.M)
    assert elf_type is not None
    stack = re.search(r"^\s*GNU_STACK\s.*?\s(R?W?E?)\s+0x[0-9a-f]+$", out, re.M)
    has_relro = re.search(r"^\s*GNU_RELRO\s", out, re.M) is not None
    dynamic = [line for line in out.splitlines() if re.match(r"\s*0x[0-9a-f]+ \(", line)]
    bind_now = any(
        "(BIND_NOW)" in line
        or ("(FLAGS)" in line and "BIND_NOW" in line)
        or ("(FLAGS_1)" in line and re.search(r"\bNOW\b", line))
        for line in dynamic
    )
    pie_flag = any("(FLAGS_1)" in line and "PIE" in line for line in dynamic)
    has_debug = any("(DEBUG)" in line for line in dynamic)
    if elf_type.group(1) == "EXEC":
        pie = "no"
    elif elf_type.group(1) == "DYN":
        pie = "yes" if (pie_flag or has_debug) else "dso"
    else:
        pie = "rel"
    symbols = set()
    for line in out.splitlines():
        match = re.match(r"\s*\d+: [0-9a-f]+\s+\d+\s+\w+\s+\w+\s+\w+\s+\S+\s+(\S+)", line)
        if match:
            symbols.add(match.group(1).split("@")[0])
    sections = set(re.findall(r"^\s*\[\s*\d+\]\s+(\S+)", out, re.M))
    return ReadelfFacts(
        nx=stack is not None and "E" not in stack.group(1),
        pie=pie,
        relro=("full" if bind_now else "partial") if has_relro else "no",
        canary=bool(_CANARY & symbols),
        fortified=frozenset(s for s in symbols if s.startswith("__") and s.endswith("_chk")),
        stripped=".symtab" not in sections,
        debug_info=".debug_info" in sections or ".debug_line" in sections,
        rpath=any("(RPATH)" in line for line in dynamic),
        runpath=any("(RUNPATH)" in line for line in dynamic),
    )


def ours(path: Path) -> ReadelfFacts:
    report = analyse_elf(path)
    return ReadelfFacts(
        nx=report.nx,
        pie=report.pie,
        relro=report.relro,
        canary=report.canary,
        fortified=frozenset(report.fortified),
        stripped=report.stripped,
        debug_info=report.debug_info,
        rpath=bool(report.rpath),
        runpath=bool(report.runpath),
    )


@pytest.mark.corpus
def test_hardening_matches_readelf_on_debian_binaries(debs: list[DebPackage]) -> None:
    checked = 0
    arches = set()
    for package in debs:
        for path in elf_files(package.root):
            assert ours(path) == readelf_facts(path), path
            arches.add(analyse_elf(path).arch)
            checked += 1
    assert checked >= 50
    assert {"x86-64", "arm", "aarch64", "mipsel"} <= arches


@pytest.mark.corpus
def test_hardening_matches_readelf_on_checksec_test_binaries(corpus: Path) -> None:
    folder = corpus / "protect" / "checksec_testbins" / "binaries"
    binaries = sorted(p for p in folder.iterdir() if p.is_file())
    assert len(binaries) >= 30
    seen = set()
    for path in binaries:
        facts = readelf_facts(path)
        assert ours(path) == facts, path.name
        seen.add((facts.relro, facts.pie, facts.rpath, facts.runpath, facts.canary))
    # The suite covers every variant, so each value is exercised at least once.
    assert {r[0] for r in seen} == {"full", "partial", "no"}
    assert {r[1] for r in seen} >= {"yes", "no", "dso", "rel"}
    assert any(r[2] for r in seen) and any(r[3] for r in seen)
    assert any(r[4] for r in seen) and not all(r[4] for r in seen)


def test_imports_and_weaknesses_of_a_compiled_program(tmp_path: Path) -> None:
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed (installed by .ci/run)"
    source = tmp_path / "leftover.c"
    source.write_text(
        "#include <stdio.h>\n#include <string.h>\n#include <stdlib.h>\n"
        "int main(int c, char **v) { char b[16]; strcpy(b, v[0]); system(b);"
        ' printf("%s", b); return 0; }\n'
    )
    binary = tmp_path / "leftover"
    subprocess.run(
        [
            gcc,
            "-g",
            "-O0",
            "-fno-stack-protector",
            "-no-pie",
            "-Wl,-z,norelro",
            "-Wl,--disable-new-dtags,-rpath,/opt/lib",
            "-o",
            str(binary),
            str(source),
        ],
        check=True,
    )
    report = analyse_elf(binary)
    assert {"strcpy", "system"} <= set(report.dangerous)
    assert report.debug_info and not report.stripped
    assert report.pie == "no" and report.relro == "no" and not report.canary
    assert report.rpath == ("/opt/lib",)
    weaknesses = report.weaknesses()
    for label in ("not PIE", "RELRO no", "no stack canary", "debug information present"):
        assert label in weaknesses
    assert ours(binary) == readelf_facts(binary)


def test_truncated_elf_is_reported_not_raised(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.write_bytes(b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + b"\xff" * 40)
    with pytest.raises(ElfParseError, match="unparsable ELF"):
        analyse_elf(broken)
