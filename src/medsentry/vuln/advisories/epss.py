"""FIRST EPSS scores (the daily CSV, optionally gzip-compressed) → rows of the ``epss`` table.

The file starts with a comment line ``#model_version:...,score_date:...`` and a header
``cve,epss,percentile``.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from medsentry.vuln.io import DocumentError

_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$", re.IGNORECASE)


def looks_like_epss(text: str) -> bool:
    for line in text.splitlines()[:3]:
        if line.startswith("#"):
            continue
        return line.strip().lower().replace(" ", "").startswith("cve,epss")
    return False


def parse_epss_csv(text: str, source: str) -> list[dict[str, Any]]:
    lines = text.splitlines()
    meta: dict[str, str] = {}
    while lines and lines[0].startswith("#"):
        for part in lines.pop(0).lstrip("#").split(","):
            key, _, value = part.partition(":")
            meta[key.strip()] = value.strip()
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    if not reader.fieldnames or "cve" not in reader.fieldnames or "epss" not in reader.fieldnames:
        raise DocumentError(source, "EPSS CSV needs the columns cve,epss,percentile")
    score_date = (meta.get("score_date") or "")[:10] or None
    rows: dict[str, dict[str, Any]] = {}
    for line_no, entry in enumerate(reader, start=2):
        cve = (entry.get("cve") or "").strip().upper()
        if not _CVE.match(cve):
            raise DocumentError(source, f"line {line_no}: {cve!r} is not a CVE id")
        try:
            score = float(entry["epss"])
            percentile = float(entry.get("percentile") or 0.0)
        except (TypeError, ValueError) as exc:
            raise DocumentError(source, f"line {line_no}: EPSS values must be numbers") from exc
        if not (0.0 <= score <= 1.0 and 0.0 <= percentile <= 1.0):
            raise DocumentError(source, f"line {line_no}: EPSS values must lie in 0..1")
        rows[cve] = {
            "cve_id": cve,
            "score": score,
            "percentile": percentile,
            "score_date": score_date,
            "model_version": meta.get("model_version"),
        }
    return list(rows.values())
