"""CVE JSON 5 records → an ``Advisory`` (the CNA's affected products) and a ``cves`` row.

Affected versions become products with the record's own text ("06.08.00.00 and prior") kept
in ``version_text`` for the tolerant matcher, and a vers range when the record gives
``lessThan``/``lessThanOrEqual`` bounds.

Older records (MITRE's, before CNAs filled ``affected``) say "n/a" for vendor, product and
version, and name the product only in the description: "The Treck TCP/IP stack before
6.0.1.66 allows ...". For those, one product is read from a description of that shape and
marked as such, so the matcher can use it at its lower, name-based confidence.
"""

from __future__ import annotations

import re
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
_PLACEHOLDERS = frozenset({"", "n/a", "na", "unknown", "unspecified", "-"})
# Words that show the start of a description is a sentence, not a product name.
_SENTENCE_WORDS = (
    "in of on for with when via and or from to by at is are was "
    "overflow vulnerability vulnerabilities issue bug flaw error multiple"
)
_NOT_A_NAME = frozenset(_SENTENCE_WORDS.split())
# "<Product> before|prior to|through <version>" at the start of a description; the product is
# a few words, and the version starts with a digit (optionally after v).
_DESCRIBED = re.compile(
    r"^(?:(?:the|an?)\s+)?(?P<product>[A-Za-z][\w./+-]*(?:\s+[\w./+-]+){0,5}?)\s+"
    r"(?P<bound>before|prior to|through|up to)\s+(?:version\s+)?(?P<version>v?\d[\w.-]*\w)\b",
    re.IGNORECASE,
)


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
    if not any(_named(p) for p in products) and description:
        described = product_from_description(description, cve)
        if described is not None:
            products = [described]
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


def _named(product: AffectedProduct) -> bool:
    return (product.product or "").strip().lower() not in _PLACEHOLDERS


def product_from_description(description: str, cve: str) -> AffectedProduct | None:
    """The product and upper bound a description starts with, or ``None``.

    Only the sentence shape "<product> before/prior to/through <version>" is read; the
    version text keeps a remark saying where it came from, which the tolerant version
    parser turns into a note and a lower confidence.
    """
    m = _DESCRIBED.match(description.strip())
    if m is None:
        return None
    product, bound_word, version = m["product"], m["bound"].lower(), m["version"]
    if any(word.lower() in _NOT_A_NAME for word in product.split()):
        return None  # "Buffer overflow in libpng": a sentence, not a product name
    text = f"{bound_word} {version} (read from the CVE description)"
    return AffectedProduct(
        product_id="description",
        vendor=None,
        product=product,
        version_text=text,
        status=ProductStatus.KNOWN_AFFECTED,
        cves=(cve,),
        full_name=f"{product} {bound_word} {version} (from the description of {cve})",
    )


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
