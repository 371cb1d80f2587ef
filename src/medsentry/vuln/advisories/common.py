"""Helpers the OSV, CVE JSON 5 and NVD importers share."""

from __future__ import annotations

from typing import Any

from medsentry.vuln.io import as_list, parse_datetime
from medsentry.vuln.model import Advisory, Score


def _escape(version: str) -> str:
    # vers reserves "|" as separator and percent-encodes it (and "%") inside versions.
    return version.replace("%", "%25").replace("|", "%7C")


def vers_string(scheme: str, constraints: list[str]) -> str | None:
    """``vers:<scheme>/c1|c2`` or None when there is nothing to constrain."""
    if not constraints:
        return None
    return f"vers:{scheme}/" + "|".join(constraints)


def bound(op: str, version: str | None) -> list[str]:
    """A single vers constraint, skipping the "no bound" spellings sources use."""
    if version is None:
        return []
    text = str(version).strip()
    if not text or text in {"*", "-"} or (op.startswith(">") and text == "0"):
        return []
    return [f"{op}{_escape(text)}"]


def cvss_version(vector: str, default: str = "3.1") -> str:
    if vector.startswith("CVSS:4.0"):
        return "4.0"
    if vector.startswith("CVSS:3.1"):
        return "3.1"
    if vector.startswith("CVSS:3.0"):
        return "3.0"
    if vector.startswith(("AV:", "(AV:")):
        return "2.0"
    return default


def score_from_cvss_object(cvss: Any, source: str | None, cve: str | None) -> Score | None:
    """A FIRST-style CVSS JSON object (``vectorString``, ``baseScore``...) → ``Score``."""
    if not isinstance(cvss, dict) or not cvss.get("vectorString"):
        return None
    vector = str(cvss["vectorString"])
    base = cvss.get("baseScore")
    return Score(
        version=str(cvss.get("version") or cvss_version(vector)),
        vector=vector,
        base_score=float(base) if isinstance(base, int | float) else None,
        severity=cvss.get("baseSeverity"),
        source=source,
        cve=cve,
    )


def english(entries: Any) -> str | None:
    """The English value of a list of ``{"lang", "value"}`` descriptions (else the first)."""
    items = [e for e in as_list(entries) if isinstance(e, dict) and e.get("value")]
    for item in items:
        if str(item.get("lang", "")).lower().startswith("en"):
            return str(item["value"])
    return str(items[0]["value"]) if items else None


def cve_row(advisory: Advisory, source: str, state: Any, assigner: Any) -> dict[str, Any]:
    """The ``cves`` table row for a single-CVE advisory (CVE JSON 5 record, NVD item)."""
    vuln = advisory.vulnerabilities[0]
    return {
        "cve_id": advisory.id,
        "source": source,
        "state": state,
        "assigner": assigner,
        "description": vuln.description,
        "published": _iso(advisory.published),
        "modified": _iso(advisory.modified),
        "cwes": [vuln.cwe] if vuln.cwe else [],
        "scores": [
            {
                "version": s.version,
                "vector": s.vector,
                "base_score": s.base_score,
                "source": s.source,
            }
            for s in advisory.scores
        ],
        "references": [r.url for r in advisory.references],
    }


def _iso(value: Any) -> str | None:
    parsed = value if not isinstance(value, str) else parse_datetime(value)
    return parsed.isoformat(timespec="seconds") if parsed else None
