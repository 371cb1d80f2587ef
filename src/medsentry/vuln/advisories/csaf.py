"""CSAF 2.0 documents (security advisories and VEX) → ``Advisory``.

The product tree is flattened: each ``product_id`` gets the vendor, product name and version
text of the branches above it (or of the products a relationship combines), plus any purl /
CPE its identification helper carries. Each vulnerability's ``product_status`` then turns into
``AffectedProduct`` records, one per product and status, listing the CVEs concerned.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from medsentry.vuln.io import DocumentError, as_list, parse_datetime, read_json_object
from medsentry.vuln.model import (
    Advisory,
    AffectedProduct,
    Note,
    ProductStatus,
    Reference,
    Remediation,
    Score,
    Vulnerability,
)

SOURCE = "csaf"

# CSAF status groups → our condensed vocabulary.
STATUS_GROUPS: dict[str, ProductStatus] = {
    "known_affected": ProductStatus.KNOWN_AFFECTED,
    "first_affected": ProductStatus.KNOWN_AFFECTED,
    "last_affected": ProductStatus.KNOWN_AFFECTED,
    "fixed": ProductStatus.FIXED,
    "first_fixed": ProductStatus.FIXED,
    "known_not_affected": ProductStatus.KNOWN_NOT_AFFECTED,
    "under_investigation": ProductStatus.UNDER_INVESTIGATION,
    "recommended": ProductStatus.RECOMMENDED,
}

# Remediation categories, most useful first, for the one-line remediation of a product.
_REMEDIATION_RANK = ("vendor_fix", "workaround", "mitigation", "no_fix_planned", "none_available")

_CVSS_KEYS = (("cvss_v2", "2.0"), ("cvss_v3", None), ("cvss_v4", "4.0"))


@dataclass
class ProductInfo:
    """What the product tree says about one product id."""

    product_id: str
    full_name: str | None = None
    vendor: str | None = None
    product: str | None = None
    family: str | None = None
    version_text: str | None = None
    version_is_range: bool = False
    purl: str | None = None
    cpe: str | None = None
    model_numbers: tuple[str, ...] = ()


def looks_like_csaf(doc: dict[str, Any]) -> bool:
    document = doc.get("document")
    return isinstance(document, dict) and "csaf_version" in document


def load_csaf(path: Path | str) -> Advisory:
    """Read and normalise one CSAF file; raises ``DocumentError`` if it is not usable CSAF."""
    doc = read_json_object(path)
    return parse_csaf(doc, str(path))


def parse_csaf(doc: dict[str, Any], source: str) -> Advisory:
    _require_shape(doc, source)
    document = doc["document"]
    tracking = document["tracking"]
    products = flatten_product_tree(doc.get("product_tree") or {})
    groups = product_groups(doc.get("product_tree") or {})

    vulnerabilities: list[Vulnerability] = []
    all_scores: list[Score] = []
    all_remediations: list[Remediation] = []
    # (product_id, status) → CVEs, keeping first-seen order.
    status_cves: dict[tuple[str, ProductStatus], list[str]] = {}
    remediation_of: dict[str, list[Remediation]] = defaultdict(list)

    for index, vuln in enumerate(as_list(doc.get("vulnerabilities"))):
        if not isinstance(vuln, dict):
            raise DocumentError(source, f"/vulnerabilities/{index} is not an object")
        vid = _vuln_id(vuln, index)
        scores = tuple(_scores(vuln, vid))
        remediations = tuple(_remediations(vuln, vid, groups))
        all_scores.extend(scores)
        all_remediations.extend(remediations)
        for rem in remediations:
            for pid in rem.product_ids:
                remediation_of[pid].append(rem)
        for group, ids in (vuln.get("product_status") or {}).items():
            status = STATUS_GROUPS.get(group)
            if status is None:
                continue
            for pid in as_list(ids):
                key = (str(pid), status)
                cves = status_cves.setdefault(key, [])
                if vid not in cves:
                    cves.append(vid)
        cwe = vuln.get("cwe") or {}
        vulnerabilities.append(
            Vulnerability(
                id=vid,
                title=vuln.get("title"),
                cwe=cwe.get("id") if isinstance(cwe, dict) else None,
                description=_vuln_description(vuln),
                scores=scores,
                remediations=remediations,
                aliases=tuple(
                    str(i.get("text")) for i in as_list(vuln.get("ids")) if isinstance(i, dict)
                ),
            )
        )

    affected: list[AffectedProduct] = []
    for (pid, status), cves in status_cves.items():
        info = products.get(pid) or ProductInfo(product_id=pid)
        affected.append(_affected(info, status, tuple(cves), remediation_of.get(pid, [])))

    cve_ids = tuple(dict.fromkeys(v.id for v in vulnerabilities if v.id.upper().startswith("CVE-")))
    publisher = document.get("publisher") or {}
    return Advisory(
        id=str(tracking["id"]),
        source=SOURCE,
        title=document.get("title"),
        revision=str(tracking.get("version")) if tracking.get("version") is not None else None,
        published=parse_datetime(tracking.get("initial_release_date")),
        modified=parse_datetime(tracking.get("current_release_date")),
        publisher=publisher.get("name") if isinstance(publisher, dict) else None,
        category=document.get("category"),
        cves=cve_ids,
        scores=tuple(all_scores),
        references=tuple(_references(document.get("references"))),
        remediations=tuple(all_remediations),
        notes=tuple(_notes(document.get("notes"))),
        products=tuple(affected),
        vulnerabilities=tuple(vulnerabilities),
        source_path=source,
    )


def _require_shape(doc: dict[str, Any], source: str) -> None:
    """The few fields the importer cannot do without, checked even when no schema is at hand."""
    document = doc.get("document")
    if not isinstance(document, dict):
        raise DocumentError(source, "not a CSAF document: no /document object")
    version = document.get("csaf_version")
    if version != "2.0":
        raise DocumentError(
            source, f"unsupported /document/csaf_version {version!r}; only CSAF 2.0 is read"
        )
    tracking = document.get("tracking")
    if not isinstance(tracking, dict) or not tracking.get("id"):
        raise DocumentError(source, "CSAF document without /document/tracking/id")
    if "product_tree" in doc and not isinstance(doc["product_tree"], dict):
        raise DocumentError(source, "/product_tree is not an object")
    if "vulnerabilities" in doc and not isinstance(doc["vulnerabilities"], list):
        raise DocumentError(source, "/vulnerabilities is not an array")


# --------------------------------------------------------------------------- product tree


def flatten_product_tree(tree: dict[str, Any]) -> dict[str, ProductInfo]:
    """Every product id defined in the tree with what its branch path says about it."""
    out: dict[str, ProductInfo] = {}

    def walk(branches: Any, path: dict[str, str]) -> None:
        for branch in as_list(branches):
            if not isinstance(branch, dict):
                continue
            here = dict(path)
            category = branch.get("category")
            name = branch.get("name")
            if isinstance(category, str) and isinstance(name, str):
                here[category] = name
            product = branch.get("product")
            if isinstance(product, dict) and product.get("product_id"):
                info = _from_path(product, here)
                out.setdefault(info.product_id, info)
            walk(branch.get("branches"), here)

    walk(tree.get("branches"), {})
    for fpn in as_list(tree.get("full_product_names")):
        if isinstance(fpn, dict) and fpn.get("product_id"):
            info = _from_path(fpn, {})
            out.setdefault(info.product_id, info)
    for rel in as_list(tree.get("relationships")):
        if not isinstance(rel, dict):
            continue
        fpn = rel.get("full_product_name")
        if not isinstance(fpn, dict) or not fpn.get("product_id"):
            continue
        # A relationship (e.g. "component X installed on platform Y") inherits the identity of
        # the component it names: that is what an SBOM would list.
        base = out.get(str(rel.get("product_reference")))
        info = _from_path(fpn, {})
        if base is not None:
            info = replace(
                base,
                product_id=info.product_id,
                full_name=info.full_name,
                purl=info.purl or base.purl,
                cpe=info.cpe or base.cpe,
            )
        out.setdefault(info.product_id, info)
    return out


def _from_path(product: dict[str, Any], path: dict[str, str]) -> ProductInfo:
    helper = product.get("product_identification_helper") or {}
    if not isinstance(helper, dict):
        helper = {}
    version = path.get("product_version")
    is_range = False
    if version is None and "product_version_range" in path:
        version = path["product_version_range"]
        is_range = True
    return ProductInfo(
        product_id=str(product["product_id"]),
        full_name=product.get("name"),
        vendor=path.get("vendor"),
        product=path.get("product_name") or path.get("product_family"),
        family=path.get("product_family"),
        version_text=version,
        version_is_range=is_range,
        purl=helper.get("purl"),
        cpe=helper.get("cpe"),
        model_numbers=tuple(str(m) for m in as_list(helper.get("model_numbers"))),
    )


def product_groups(tree: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    return {
        str(g["group_id"]): tuple(str(p) for p in as_list(g.get("product_ids")))
        for g in as_list(tree.get("product_groups"))
        if isinstance(g, dict) and g.get("group_id")
    }


def _affected(
    info: ProductInfo,
    status: ProductStatus,
    cves: tuple[str, ...],
    remediations: list[Remediation],
) -> AffectedProduct:
    vers = None
    if info.version_text and info.version_text.strip().startswith("vers:"):
        vers = info.version_text.strip()
    return AffectedProduct(
        product_id=info.product_id,
        vendor=info.vendor,
        product=info.product,
        version_text=info.version_text,
        purl=info.purl,
        cpe=info.cpe,
        vers=vers,
        status=status,
        cves=cves,
        full_name=info.full_name,
        remediation=_best_remediation(remediations),
    )


def _best_remediation(remediations: list[Remediation]) -> str | None:
    for category in _REMEDIATION_RANK:
        for rem in remediations:
            if rem.category == category and rem.details:
                return rem.details
    return None


# --------------------------------------------------------------------------- vulnerabilities


def _vuln_id(vuln: dict[str, Any], index: int) -> str:
    if vuln.get("cve"):
        return str(vuln["cve"])
    for ident in as_list(vuln.get("ids")):
        if isinstance(ident, dict) and ident.get("text"):
            return str(ident["text"])
    if vuln.get("title"):
        return str(vuln["title"])
    return f"vulnerability-{index + 1}"


def _vuln_description(vuln: dict[str, Any]) -> str | None:
    notes = [n for n in as_list(vuln.get("notes")) if isinstance(n, dict)]
    for wanted in ("description", "summary", "details", "general"):
        for note in notes:
            if note.get("category") == wanted and note.get("text"):
                return str(note["text"])
    return None


def _scores(vuln: dict[str, Any], vid: str) -> list[Score]:
    out: list[Score] = []
    for entry in as_list(vuln.get("scores")):
        if not isinstance(entry, dict):
            continue
        pids = tuple(str(p) for p in as_list(entry.get("products")))
        for key, fixed_version in _CVSS_KEYS:
            cvss = entry.get(key)
            if not isinstance(cvss, dict) or not cvss.get("vectorString"):
                continue
            version = fixed_version or str(cvss.get("version") or "3.1")
            base = cvss.get("baseScore")
            out.append(
                Score(
                    version=version,
                    vector=str(cvss["vectorString"]),
                    base_score=float(base) if isinstance(base, int | float) else None,
                    severity=cvss.get("baseSeverity"),
                    source="advisory",
                    cve=vid,
                    product_ids=pids,
                )
            )
    return out


def _remediations(
    vuln: dict[str, Any], vid: str, groups: dict[str, tuple[str, ...]]
) -> list[Remediation]:
    out: list[Remediation] = []
    for rem in as_list(vuln.get("remediations")):
        if not isinstance(rem, dict) or not rem.get("category"):
            continue
        pids = [str(p) for p in as_list(rem.get("product_ids"))]
        for gid in as_list(rem.get("group_ids")):
            pids.extend(groups.get(str(gid), ()))
        out.append(
            Remediation(
                category=str(rem["category"]),
                details=str(rem.get("details") or ""),
                product_ids=tuple(dict.fromkeys(pids)),
                url=rem.get("url"),
                date=parse_datetime(rem.get("date")),
                cve=vid,
            )
        )
    return out


def _references(refs: Any) -> list[Reference]:
    return [
        Reference(url=str(r["url"]), summary=r.get("summary"), category=r.get("category"))
        for r in as_list(refs)
        if isinstance(r, dict) and r.get("url")
    ]


def _notes(notes: Any) -> list[Note]:
    return [
        Note(
            category=str(n.get("category") or "general"), text=str(n["text"]), title=n.get("title")
        )
        for n in as_list(notes)
        if isinstance(n, dict) and n.get("text")
    ]
