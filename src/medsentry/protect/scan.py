"""One firmware scan: unpack, then look at every file once (hardening, components, secrets)."""

from __future__ import annotations

import mmap
import shutil
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from medsentry.errors import InputError
from medsentry.protect.components import Component, ComponentMatcher, Evidence, SignatureFile
from medsentry.protect.elf import ElfParseError, ElfReport, analyse_elf, is_elf
from medsentry.protect.packages import is_package_database, read_packages
from medsentry.protect.pe import PeParseError, PeReport, analyse_pe, is_pe
from medsentry.protect.safe_fs import sha256_file
from medsentry.protect.secrets import SecretFinding, SecretScanner, is_text
from medsentry.protect.unpack import (
    Link,
    NotOpened,
    Unpacked,
    UnpackedFile,
    Unpacker,
    UnpackLimits,
    make_workdir,
)

_HEAD = 8192
_TEXT_LIMIT = 8 * 1024 * 1024


@dataclass(frozen=True)
class BinaryReport:
    location: str
    size: int
    mode: int
    elf: ElfReport


@dataclass(frozen=True)
class PeBinaryReport:
    location: str
    size: int
    pe: PeReport


@dataclass
class ScanReport:
    """Everything one scan found; no secret appears in it unmasked."""

    target: str
    target_sha256: str | None
    target_bytes: int
    duration_s: float = 0.0
    files: int = 0
    bytes_unpacked: int = 0
    links: list[Link] = field(default_factory=list)
    containers: list[tuple[str, str]] = field(default_factory=list)
    not_opened: list[NotOpened] = field(default_factory=list)
    binaries: list[BinaryReport] = field(default_factory=list)
    pe_binaries: list[PeBinaryReport] = field(default_factory=list)
    binary_errors: list[tuple[str, str]] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    findings: list[SecretFinding] = field(default_factory=list)


def scan_path(
    target: Path,
    limits: UnpackLimits | None = None,
    signatures: SignatureFile | None = None,
    workdir_parent: Path | None = None,
) -> ScanReport:
    """Scan a firmware image, archive, package or folder."""
    if not target.exists():
        raise InputError(f"{target}: no such file or folder")
    started = time.perf_counter()
    report = ScanReport(
        target=target.name or str(target),
        target_sha256=sha256_file(target) if target.is_file() else None,
        target_bytes=target.stat().st_size if target.is_file() else 0,
    )
    with _workdir(workdir_parent) as work:
        unpacked = Unpacker(work, limits).unpack(target)
        _analyse(unpacked, report, ComponentMatcher(signatures), SecretScanner())
    report.duration_s = time.perf_counter() - started
    return report


@contextmanager
def _workdir(parent: Path | None) -> Iterator[Path]:
    path = make_workdir(parent)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _analyse(
    unpacked: Unpacked, report: ScanReport, matcher: ComponentMatcher, scanner: SecretScanner
) -> None:
    report.files = len(unpacked.files)
    report.bytes_unpacked = unpacked.bytes_unpacked
    report.links = unpacked.links
    report.containers = unpacked.containers
    report.not_opened = unpacked.not_opened
    evidence: list[Evidence] = []
    packages: list[Component] = []
    for item in unpacked.files:
        report.findings += _permission_findings(item)
        if item.size == 0:
            continue
        with open(item.path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            head = mm[:_HEAD]
            soname = None
            if is_elf(head):
                try:
                    elf = analyse_elf(item.path)
                except ElfParseError as exc:
                    report.binary_errors.append((item.location, str(exc)))
                else:
                    report.binaries.append(BinaryReport(item.location, item.size, item.mode, elf))
                    soname = elf.soname
            elif is_pe(head):
                try:
                    pe = analyse_pe(item.path)
                except PeParseError as exc:
                    report.binary_errors.append((item.location, str(exc)))
                else:
                    report.pe_binaries.append(PeBinaryReport(item.location, item.size, pe))
            text = item.size <= _TEXT_LIMIT and is_text(head)
            data: bytes | mmap.mmap = mm[:] if text else mm
            if not scanner.is_documentation(item.location):
                evidence += matcher.scan(data, item.location, soname)
            report.findings += scanner.scan(data, item.location, text)
            if is_package_database(item.location):
                packages += read_packages(item.location, mm[:])
            del data
    report.components = matcher.assemble(evidence) + packages
    report.components.sort(key=lambda c: (c.name, c.version or ""))


def _permission_findings(item: UnpackedFile) -> list[SecretFinding]:
    findings = []
    if item.mode & (stat.S_ISUID | stat.S_ISGID):
        kind = "setuid" if item.mode & stat.S_ISUID else "setgid"
        findings.append(
            SecretFinding(
                f"{kind}-file",
                "permission",
                "medium",
                f"{kind} file (runs with its owner's privileges)",
                item.location,
                f"mode {item.mode:04o}",
            )
        )
    if item.mode & stat.S_IWOTH:
        findings.append(
            SecretFinding(
                "world-writable-file",
                "permission",
                "medium",
                "World-writable file",
                item.location,
                f"mode {item.mode:04o}",
            )
        )
    return findings
