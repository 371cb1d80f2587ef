"""CVE JSON 5 records → an ``Advisory`` (the CNA's affected products) and a ``cves`` row.

Affected versions become products with the record's own text ("06.08.00.00 and prior") kept
in ``version_text`` for the tolerant matcher, and a vers range when the record gives
``lessThan``/``lessThanOrEqual`` bounds.
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

SOURCE = "cve5"

_STATUS = {
    "affected": ProductStatus.KNOWN_AFFECTED,
    "unaffected": ProductStatus.KNOWN_NOT_AFFECTED,
    "unknown": ProductStatus.UNDER_INVESTIGATION,
}
_SCHEMES = {"semver": "semver", "maven": "maven", "python": "pypi", "rpm": "rpm", "deb": "deb"}


def looks_like_cve5(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("dataType") == "CVE_RECORD"


def parse_cve5(doc: dict[str, Any], source: str) -> tuple[Advisory, dict[str, Any]]:
    meta = doc.get("cveMetadata")
    containers = doc.get("containers")
    if not isinstance(meta, dict) or not meta.get("cveId") or not isinstance(containers, dict):
        raise DocumentError(source, "CVE record without cveMetadata.cveId or containers")
    cve = str(meta["cveId"]).upper()
    cna = containers.get("cna") if isinstance(containers.get("cna"), dict) else {}
    assert isinstance(cna, dict)
    scores: list[Score] = []
    for container, who in [(cna, meta.get("assignerShortName") or "cna")] + [
        (adp, adp.get("providerMetadata", {}).get("shortName") or "adp")
        for adp in as_list(containers.get("adp"))
        if isinstance(adp, dict)
    ]:
        for metric in as_list(container.get("metrics")):
            if not isinstance(metric, dict):
                continue
            for key in ("cvssV4_0", "cvssV3_1", "cvssV3_0", "cvssV2_0"):
                score = score_from_cvss_object(metric.get(key), str(who), cve)
                if score:
                    scores.append(score)
    cwes = [
        str(d["cweId"])
        for pt in as_list(cna.get("problemTypes"))
        if isinstance(pt, dict)
        for d in as_list(pt.get("descriptions"))
        if isinstance(d, dict) and d.get("cweId")
    ]
    description = english(cna.get("descriptions"))
    products: list[AffectedProduct] = []
    for a_i, affected in enumerate(as_list(cna.get("affected"))):
        if isinstance(affected, dict):
            products.extend(_products(affected, a_i, cve))
    refs = tuple(
        Reference(url=str(r["url"]), summary=r.get("name"))
        for r in as_list(cna.get("references"))
        if isinstance(r, dict) and r.get("url")
    )
    advisory = Advisory(
        id=cve,
        source=SOURCE,
        title=cna.get("title") or description,
        revision=meta.get("dateUpdated"),
        published=parse_datetime(meta.get("datePublished")),
        modified=parse_datetime(meta.get("dateUpdated")),
        publisher=meta.get("assignerShortName"),
        cves=(cve,),
        scores=tuple(scores),
        references=refs,
        products=tuple(products),
        vulnerabilities=(
            Vulnerability(
                id=cve,
                title=cna.get("title"),
                cwe=cwes[0] if cwes else None,
                description=description,
                scores=tuple(scores),
            ),
        ),
        source_path=source,
    )
    row = cve_row(advisory, SOURCE, meta.get("state"), meta.get("assignerShortName"))
    return advisory, row


def _products(affected: dict[str, Any], index: int, cve: str) -> list[AffectedProduct]:
    vendor = affected.get("vendor")
    product = affected.get("product") or affected.get("packageName")
    cpes = [str(c) for c in as_list(affected.get("cpes"))]
    out: list[AffectedProduct] = []
    for v_i, ver in enumerate(as_list(affected.get("versions"))):
        if not isinstance(ver, dict):
            continue
        status = _STATUS.get(str(ver.get("status")), ProductStatus.UNDER_INVESTIGATION)
        version = ver.get("version")
        scheme = _SCHEMES.get(str(ver.get("versionType", "")).lower(), "generic")
        text = str(version) if version is not None else None
        vers = None
        if ver.get("lessThan") or ver.get("lessThanOrEqual"):
            upper = ver.get("lessThan")
            op = "<"
            if not upper:
                upper, op = ver.get("lessThanOrEqual"), "<="
            constraints = bound(">=", version) + bound(op, upper)
            vers = vers_string(scheme, constraints)
            text = f"{version} to {op} {upper}" if bound(">=", version) else f"{op} {upper}"
        out.append(
            AffectedProduct(
                product_id=f"affected[{index}].versions[{v_i}]",
                vendor=vendor,
                product=product,
                version_text=text,
                cpe=cpes[0] if cpes else None,
                vers=vers,
                status=status,
                cves=(cve,),
                full_name=" ".join(p for p in (vendor, product, text) if p),
            )
        )
    if not out and affected.get("defaultStatus") == "affected":
        out.append(
            AffectedProduct(
                product_id=f"affected[{index}]",
                vendor=vendor,
                product=product,
                version_text="all versions",
                cpe=cpes[0] if cpes else None,
                status=ProductStatus.KNOWN_AFFECTED,
                cves=(cve,),
            )
        )
    return out
