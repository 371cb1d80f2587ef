"""Presenting a firmware scan: a JSON document and a terminal summary.

Both are built only from :class:`ScanReport`, whose findings hold masked previews, so
neither can print a secret in full.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from medsentry import __version__
from medsentry.protect.components import Component
from medsentry.protect.scan import BinaryReport, ScanReport
from medsentry.protect.secrets import SEVERITY_ORDER, SecretFinding

_TOP_WEAK_BINARIES = 15


def hardening_summary(binaries: list[BinaryReport]) -> dict[str, int]:
    """How many ELF files have each protection (counts, for summaries and trends)."""
    elves = [b.elf for b in binaries]
    executables = [e for e in elves if e.elf_type in ("EXEC", "DYN") and e.pie != "dso"]
    return {
        "elf_files": len(elves),
        "executables": len(executables),
        "nx": sum(e.nx for e in elves),
        "pie_executables": sum(e.pie == "yes" for e in executables),
        "relro_full": sum(e.relro == "full" for e in elves),
        "relro_partial": sum(e.relro == "partial" for e in elves),
        "canary": sum(e.canary for e in elves),
        "fortify": sum(e.fortify for e in elves),
        "stripped": sum(e.stripped for e in elves),
        "debug_info": sum(e.debug_info for e in elves),
        "rpath_or_runpath": sum(bool(e.rpath or e.runpath) for e in elves),
        "with_dangerous_imports": sum(bool(e.dangerous) for e in elves),
    }


def component_dict(component: Component) -> dict[str, Any]:
    return {
        "name": component.name,
        "version": component.version,
        "type": component.type,
        "supplier": component.supplier,
        "cpe": component.cpe,
        "purl": component.purl,
        "confidence": component.confidence,
        "properties": component.properties,
        "evidence": [
            {
                "location": e.location,
                "technique": e.technique,
                "confidence": e.confidence,
                "text": e.text,
                "offset": e.offset,
            }
            for e in component.evidence
        ],
    }


def report_to_dict(report: ScanReport) -> dict[str, Any]:
    """The whole scan as JSON-ready data."""
    findings = sorted(report.findings, key=_finding_order)
    return {
        "tool": {"name": "medsentry", "version": __version__},
        "target": {
            "name": report.target,
            "sha256": report.target_sha256,
            "bytes": report.target_bytes,
        },
        "duration_s": round(report.duration_s, 3),
        "summary": {
            "files": report.files,
            "bytes_unpacked": report.bytes_unpacked,
            "links": len(report.links),
            "containers_opened": len(report.containers),
            "not_opened": len(report.not_opened),
            "components": len(report.components),
            "findings_by_severity": dict(Counter(f.severity for f in findings)),
            "hardening": hardening_summary(report.binaries),
            "pe_files": len(report.pe_binaries),
        },
        "unpacking": {
            "containers": [{"location": loc, "format": fmt} for loc, fmt in report.containers],
            "not_opened": [asdict(item) for item in report.not_opened],
        },
        "components": [component_dict(c) for c in report.components],
        "binaries": [
            {"location": b.location, "bytes": b.size, "mode": f"{b.mode:04o}", **asdict(b.elf)}
            for b in report.binaries
        ],
        "links": [asdict(link) for link in report.links],
        "pe_binaries": [
            {"location": b.location, "bytes": b.size, **asdict(b.pe)} for b in report.pe_binaries
        ],
        "binary_errors": [{"location": loc, "error": err} for loc, err in report.binary_errors],
        "findings": [asdict(f) for f in findings],
    }


def _finding_order(finding: SecretFinding) -> tuple[int, str, str]:
    return (-SEVERITY_ORDER[finding.severity], finding.category, finding.location)


def _short(location: str, width: int = 70) -> str:
    return location if len(location) <= width else "…" + location[-(width - 1) :]


def render(report: ScanReport, console: Console) -> None:
    """A terminal summary: components, weakest binaries, findings, what was not opened."""
    summary = report_to_dict(report)["summary"]
    console.print(
        f"[bold]{escape(report.target)}[/bold]: {report.files} files "
        f"({report.bytes_unpacked / 1e6:.1f} MB unpacked) from {len(report.containers)} "
        f"containers, {len(report.binaries)} ELF files, {len(report.components)} components, "
        f"{len(report.findings)} findings in {report.duration_s:.1f} s"
    )
    if report.components:
        table = Table(title="Components", show_lines=False)
        for column in ("name", "version", "confidence", "evidence", "cpe / purl"):
            table.add_column(column)
        for comp in report.components:
            table.add_row(
                escape(comp.name),
                escape(comp.version or "?"),
                f"{comp.confidence:.2f}",
                escape(f"{len(comp.evidence)}: {_short(comp.evidence[0].location, 40)}"),
                escape(comp.cpe or comp.purl or ""),
            )
        console.print(table)
    hardening = summary["hardening"]
    if report.binaries:
        console.print(
            "Hardening: "
            + ", ".join(f"{key} {value}" for key, value in hardening.items() if key != "elf_files")
            + f" (of {hardening['elf_files']} ELF files)"
        )
        weak = sorted(report.binaries, key=lambda b: -len(b.elf.weaknesses()))
        table = Table(title="Least hardened binaries")
        for column in ("file", "arch", "weaknesses", "dangerous imports"):
            table.add_column(column)
        for binary in weak[:_TOP_WEAK_BINARIES]:
            if not binary.elf.weaknesses() and not binary.elf.dangerous:
                continue
            table.add_row(
                escape(_short(binary.location, 50)),
                escape(binary.elf.arch),
                ", ".join(binary.elf.weaknesses()),
                ", ".join(binary.elf.dangerous),
            )
        if table.row_count:
            console.print(table)
    if report.pe_binaries:
        pes = [b.pe for b in report.pe_binaries]
        console.print(
            f"PE files: {len(pes)}; ASLR {sum(p.aslr for p in pes)}, DEP {sum(p.nx for p in pes)}, "
            f"CFG {sum(p.cfg for p in pes)}, signed {sum(p.signed for p in pes)}"
        )
    if report.findings:
        table = Table(title="Findings (secrets are masked)")
        for column in ("severity", "what", "where", "preview"):
            table.add_column(column)
        for finding in sorted(report.findings, key=_finding_order):
            where = _short(finding.location, 50) + (f":{finding.line}" if finding.line else "")
            table.add_row(
                finding.severity, escape(finding.title), escape(where), escape(finding.preview)
            )
        console.print(table)
    for item in report.not_opened:
        label = "refused" if item.refused else "not opened"
        console.print(
            f"[yellow]{label}[/yellow]: "
            + escape(f"{item.location} ({item.format}): {item.reason}")
        )
