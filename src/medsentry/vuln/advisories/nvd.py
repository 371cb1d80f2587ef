"""NVD CVE API 2.0 responses → one ``Advisory`` per CVE (CPE configurations) and ``cves`` rows.

Each vulnerable ``cpeMatch`` becomes a product with its CPE and, when it has version bounds,
a ``vers:generic/...`` range. Non-vulnerable matches (the platform half of an AND
configuration) are context, not products, and are left out.
"""

from __future__ import annotations

from typing import Any

from medsentry.vuln.advisories.common import (
    bound,
    cve_row,
    english,
    score_from_cvss_object,
    vers_string,
)
from medsentry.vuln.io import DocumentError, as_list, parse_datetime
from medsentry.vuln.model import (
    Advisory,
    AffectedProduct,
    ProductStatus,
    Reference,
    Score,
    Vulnerability,
)

SOURCE = "nvd"

_METRICS = ("cvssMetricV40", "cvssMetricV31", "cvssMetricV30", "cvssMetricV2")


def looks_like_nvd(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("format") == "NVD_CVE" and "vulnerabilities" in doc


def parse_nvd(doc: dict[str, Any], source: str) -> list[tuple[Advisory, dict[str, Any]]]:
    items = doc.get("vulnerabilities")
    if not isinstance(items, list):
        raise DocumentError(source, "NVD response without a vulnerabilities array")
    out = []
    for i, item in enumerate(items):
        cve = item.get("cve") if isinstance(item, dict) else None
        if not isinstance(cve, dict) or not cve.get("id"):
            raise DocumentError(source, f"/vulnerabilities/{i} has no cve.id")
        out.append(_one(cve, source))
    return out


def _one(cve: dict[str, Any], source: str) -> tuple[Advisory, dict[str, Any]]:
    cve_id = str(cve["id"]).upper()
    scores: list[Score] = []
    metrics = cve.get("metrics") if isinstance(cve.get("metrics"), dict) else {}
    assert isinstance(metrics, dict)
    for key in _METRICS:
        for metric in as_list(metrics.get(key)):
            if not isinstance(metric, dict):
                continue
            score = score_from_cvss_object(metric.get("cvssData"), metric.get("source"), cve_id)
            if score is not None:
                if score.severity is None and metric.get("baseSeverity"):
                    score = Score(**{**_fields(score), "severity": metric["baseSeverity"]})
                scores.append(score)
    cwes = sorted(
        {
            str(d["value"])
            for w in as_list(cve.get("weaknesses"))
            if isinstance(w, dict)
            for d in as_list(w.get("description"))
            if isinstance(d, dict) and str(d.get("value", "")).startswith("CWE-")
        }
    )
    description = english(cve.get("descriptions"))
    products = _products(cve, cve_id)
    refs = tuple(
        Reference(url=str(r["url"]), category=",".join(as_list(r.get("tags"))) or None)
        for r in as_list(cve.get("references"))
        if isinstance(r, dict) and r.get("url")
    )
    advisory = Advisory(
        id=cve_id,
        source=SOURCE,
        title=description[:200] if description else None,
        revision=cve.get("lastModified"),
        published=parse_datetime(cve.get("published")),
        modified=parse_datetime(cve.get("lastModified")),
        publisher=cve.get("sourceIdentifier"),
        cves=(cve_id,),
        scores=tuple(scores),
        references=refs,
        products=tuple(products),
        vulnerabilities=(
            Vulnerability(
                id=cve_id,
                cwe=cwes[0] if cwes else None,
                description=description,
                scores=tuple(scores),
            ),
        ),
        source_path=source,
    )
    row = cve_row(advisory, SOURCE, cve.get("vulnStatus"), cve.get("sourceIdentifier"))
    return advisory, row


def _fields(score: Score) -> dict[str, Any]:
    return {name: getattr(score, name) for name in Score.__slots__}  # type: ignore[attr-defined]


def _products(cve: dict[str, Any], cve_id: str) -> list[AffectedProduct]:
    out: list[AffectedProduct] = []
    n = 0
    for config in as_list(cve.get("configurations")):
        for node in as_list(config.get("nodes") if isinstance(config, dict) else None):
            if not isinstance(node, dict) or node.get("negate"):
                continue
            for match in as_list(node.get("cpeMatch")):
                if not isinstance(match, dict) or not match.get("vulnerable"):
                    continue
                criteria = str(match.get("criteria") or "")
                parts = criteria.split(":")
                constraints = (
                    bound(">=", match.get("versionStartIncluding"))
                    + bound(">", match.get("versionStartExcluding"))
                    + bound("<=", match.get("versionEndIncluding"))
                    + bound("<", match.get("versionEndExcluding"))
                )
                version = parts[5] if len(parts) > 5 else None
                n += 1
                out.append(
                    AffectedProduct(
                        product_id=str(match.get("matchCriteriaId") or f"cpeMatch[{n}]"),
                        vendor=parts[3] if len(parts) > 4 else None,
                        product=parts[4] if len(parts) > 4 else None,
                        version_text=" ".join(constraints)
                        or (version if version not in (None, "*", "-") else "all versions"),
                        cpe=criteria or None,
                        vers=vers_string("generic", constraints),
                        status=ProductStatus.KNOWN_AFFECTED,
                        cves=(cve_id,),
                    )
                )
    return out
