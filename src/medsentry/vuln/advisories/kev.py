"""CISA Known Exploited Vulnerabilities catalog (JSON or CSV) → rows of the ``kev`` table."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from medsentry.vuln.io import DocumentError

_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$", re.IGNORECASE)


def looks_like_kev(doc: Any) -> bool:
    return isinstance(doc, dict) and "catalogVersion" in doc and "vulnerabilities" in doc


def parse_kev_json(doc: dict[str, Any], source: str) -> list[dict[str, Any]]:
    entries = doc.get("vulnerabilities")
    if not isinstance(entries, list):
        raise DocumentError(source, "KEV catalog without a vulnerabilities array")
    version = str(doc.get("catalogVersion") or "") or None
    return [_row(e, version, source, i) for i, e in enumerate(entries)]


def looks_like_kev_csv(header: list[str]) -> bool:
    return "cveID" in header and "vendorProject" in header


def parse_kev_csv(text: str, source: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for i, entry in enumerate(reader):
        cwes = entry.get("cwes") or ""
        entry_dict: dict[str, Any] = dict(entry)
        entry_dict["cwes"] = [c.strip() for c in cwes.split(",") if c.strip()]
        rows.append(_row(entry_dict, None, source, i))
    return rows


def _row(entry: Any, version: str | None, source: str, index: int) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise DocumentError(source, f"KEV entry {index} is not an object")
    cve = str(entry.get("cveID") or "").strip()
    if not _CVE.match(cve):
        raise DocumentError(source, f"KEV entry {index} has no valid cveID ({cve!r})")
    cwes = entry.get("cwes") or []
    return {
        "cve_id": cve.upper(),
        "vendor_project": entry.get("vendorProject"),
        "product": entry.get("product"),
        "name": entry.get("vulnerabilityName"),
        "date_added": entry.get("dateAdded"),
        "due_date": entry.get("dueDate"),
        "short_description": entry.get("shortDescription"),
        "required_action": entry.get("requiredAction"),
        "ransomware": entry.get("knownRansomwareCampaignUse"),
        "notes": entry.get("notes"),
        "cwes": [str(c) for c in cwes] if isinstance(cwes, list) else [],
        "catalog_version": version,
    }
