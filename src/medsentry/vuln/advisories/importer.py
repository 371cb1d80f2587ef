"""Recognise an advisory-data document, validate it, normalise it and store it.

One entry point for every source: CSAF, OSV, CVE JSON 5, NVD API 2.0 responses, the CISA KEV
catalog (JSON or CSV) and EPSS CSV, plain or gzip-compressed. A batch is parsed completely
before anything is written, and written in one transaction, so a bad file never leaves a
half-imported state behind.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from medsentry.vuln.advisories import csaf, cve5, epss, kev, nvd, osv
from medsentry.vuln.advisories.csaf_validate import validate_csaf
from medsentry.vuln.advisories.report import ValidationReport
from medsentry.vuln.io import MAX_DOCUMENT_BYTES, DocumentError, parse_json, read_bytes
from medsentry.vuln.model import Advisory
from medsentry.vuln.repository import (
    StoredAdvisory,
    save_advisories,
    save_cves,
    save_epss,
    save_kev,
)

DOCUMENT_SUFFIXES = (".json", ".csv", ".json.gz", ".csv.gz")


@dataclass
class ParsedDocument:
    source: str
    kind: str  # csaf | osv | cve5 | nvd | kev | epss
    sha256: str
    report: ValidationReport
    advisories: list[Advisory] = field(default_factory=list)
    cve_rows: list[dict[str, Any]] = field(default_factory=list)
    kev_rows: list[dict[str, Any]] = field(default_factory=list)
    epss_rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ImportSummary:
    files: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    older: int = 0
    products: int = 0
    cves: int = 0
    kev: int = 0
    epss: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    reports: list[ValidationReport] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "advisories": {
                "new": self.new,
                "updated": self.updated,
                "unchanged": self.unchanged,
                "older_revision_skipped": self.older,
            },
            "affected_products_written": self.products,
            "cve_records": self.cves,
            "kev_entries": self.kev,
            "epss_scores": self.epss,
            "kinds": dict(self.kinds),
            "failures": [{"source": s, "problem": p} for s, p in self.failures],
            "validation_issues": sum(len(r.issues) for r in self.reports),
        }


def _decompress(data: bytes, source: str) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            out = fh.read(MAX_DOCUMENT_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise DocumentError(source, f"broken gzip data ({exc})") from exc
    if len(out) > MAX_DOCUMENT_BYTES:
        raise DocumentError(source, "decompresses to more than the 256 MiB limit")
    return out


def parse_document(
    raw: bytes, source: str, *, strict: bool = False, schema: Path | bool | None = True
) -> ParsedDocument:
    """Recognise and normalise one document; raises ``DocumentError`` if it is unusable.

    CSAF documents that break the JSON schema are refused; with ``strict`` any failed
    mandatory test refuses them too (otherwise failures are kept in the report).
    """
    sha = hashlib.sha256(raw).hexdigest()
    data = _decompress(raw, source)
    head = data.lstrip()[:1]
    if head in (b"{", b"["):
        return _parse_json_document(parse_json(data, source), source, sha, strict, schema)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(source, "neither JSON nor UTF-8 CSV text") from exc
    first = next((ln for ln in text.splitlines() if ln and not ln.startswith("#")), "")
    report = ValidationReport(source=source, format="csv")
    if epss.looks_like_epss(text):
        report.format = "epss"
        return ParsedDocument(
            source, "epss", sha, report, epss_rows=epss.parse_epss_csv(text, source)
        )
    if kev.looks_like_kev_csv([h.strip() for h in first.split(",")]):
        report.format = "kev"
        return ParsedDocument(source, "kev", sha, report, kev_rows=kev.parse_kev_csv(text, source))
    raise DocumentError(
        source,
        "not a recognised advisory format (expected CSAF, OSV, CVE JSON 5, NVD API 2.0, "
        "KEV JSON/CSV or EPSS CSV)",
    )


def _parse_json_document(
    doc: Any, source: str, sha: str, strict: bool, schema: Path | bool | None
) -> ParsedDocument:
    if isinstance(doc, dict) and csaf.looks_like_csaf(doc):
        report = validate_csaf(doc, source, schema=schema if schema is not None else False)
        schema_errors = [i for i in report.errors if i.test == "schema"]
        if schema_errors:
            first = schema_errors[0]
            raise DocumentError(
                source,
                f"does not follow the CSAF 2.0 schema: {first.message} at {first.path or '/'}"
                + (f" (and {len(schema_errors) - 1} more)" if len(schema_errors) > 1 else ""),
            )
        if strict and report.errors:
            first = report.errors[0]
            raise DocumentError(
                source, f"fails CSAF mandatory test {first.test}: {first.message} at {first.path}"
            )
        advisory = csaf.parse_csaf(doc, source)
        return ParsedDocument(source, "csaf", sha, report, advisories=[advisory])
    report = ValidationReport(source=source, format="json")
    if kev.looks_like_kev(doc):
        report.format = "kev"
        return ParsedDocument(source, "kev", sha, report, kev_rows=kev.parse_kev_json(doc, source))
    if nvd.looks_like_nvd(doc):
        report.format = "nvd"
        pairs = nvd.parse_nvd(doc, source)
        return ParsedDocument(
            source, "nvd", sha, report, [a for a, _ in pairs], cve_rows=[r for _, r in pairs]
        )
    if cve5.looks_like_cve5(doc):
        report.format = "cve5"
        advisory, row = cve5.parse_cve5(doc, source)
        return ParsedDocument(source, "cve5", sha, report, [advisory], cve_rows=[row])
    entries = doc if isinstance(doc, list) else [doc]
    if entries and all(osv.looks_like_osv(e) for e in entries):
        report.format = "osv"
        return ParsedDocument(
            source, "osv", sha, report, [osv.parse_osv(e, source) for e in entries]
        )
    if isinstance(doc, dict) and isinstance(doc.get("document"), dict):
        raise DocumentError(source, "looks like CSAF but has no /document/csaf_version")
    raise DocumentError(
        source,
        "not a recognised advisory format (expected CSAF, OSV, CVE JSON 5, NVD API 2.0, "
        "KEV JSON/CSV or EPSS CSV)",
    )


def expand_paths(paths: Iterable[Path | str]) -> list[Path]:
    """Files named directly, plus the advisory documents found under named folders."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.name.lower().endswith(DOCUMENT_SUFFIXES)
            )
            if not found:
                raise DocumentError(str(path), "folder holds no .json/.csv advisory files")
            out.extend(found)
        else:
            out.append(path)
    return out


def parse_files(
    paths: Sequence[Path], *, strict: bool = False, skip_invalid: bool = False
) -> tuple[list[ParsedDocument], list[tuple[str, str]]]:
    """Parse every file; the first bad one raises unless ``skip_invalid`` collects it."""
    parsed: list[ParsedDocument] = []
    failures: list[tuple[str, str]] = []
    for path in paths:
        try:
            parsed.append(parse_document(read_bytes(path), str(path), strict=strict))
        except DocumentError as exc:
            if not skip_invalid:
                raise
            failures.append((exc.source, exc.problem))
    return parsed, failures


def store_documents(session: Session, docs: Sequence[ParsedDocument]) -> ImportSummary:
    """Write parsed documents in the caller's transaction."""
    summary = ImportSummary(files=len(docs))
    items: list[StoredAdvisory] = []
    cve_rows: dict[str, dict[str, Any]] = {}
    kev_rows: dict[str, dict[str, Any]] = {}
    epss_rows: dict[str, dict[str, Any]] = {}
    for doc in docs:
        summary.kinds[doc.kind] = summary.kinds.get(doc.kind, 0) + 1
        summary.reports.append(doc.report)
        validation = doc.report.to_dict()
        for advisory in doc.advisories:
            # A file may hold many entries (OSV lists, NVD pages): tell them apart by id.
            digest = doc.sha256 if len(doc.advisories) == 1 else _entry_digest(doc.sha256, advisory)
            items.append(StoredAdvisory(advisory, digest, validation))
        for row in doc.cve_rows:
            cve_rows[row["cve_id"]] = row
        for row in doc.kev_rows:
            kev_rows[row["cve_id"]] = row
        for row in doc.epss_rows:
            epss_rows[row["cve_id"]] = row
    written = save_advisories(session, items)
    summary.new, summary.updated = len(written.new), len(written.updated)
    summary.unchanged, summary.older = len(written.unchanged), len(written.older)
    summary.products = written.products
    summary.cves = save_cves(session, list(cve_rows.values()))
    summary.kev = save_kev(session, list(kev_rows.values()))
    summary.epss = save_epss(session, list(epss_rows.values()))
    return summary


def _entry_digest(file_sha: str, advisory: Advisory) -> str:
    return hashlib.sha256(f"{file_sha}:{advisory.id}:{advisory.revision}".encode()).hexdigest()


def import_paths(
    session: Session,
    paths: Iterable[Path | str],
    *,
    strict: bool = False,
    skip_invalid: bool = False,
) -> ImportSummary:
    files = expand_paths(paths)
    docs, failures = parse_files(files, strict=strict, skip_invalid=skip_invalid)
    summary = store_documents(session, docs)
    summary.failures = failures
    return summary
