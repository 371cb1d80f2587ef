"""VEX documents: CycloneDX VEX and CSAF VEX in and out, OpenVEX in.

Everything goes through ``VexStatement`` ("this vulnerability, in this product, has this
status, because ..."). Import keeps each format's own state and justification words next to
the common vocabulary, so exporting what was imported says the same thing.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from medsentry.vuln.advisories.csaf import flatten_product_tree, product_groups
from medsentry.vuln.io import DocumentError, as_list, parse_datetime
from medsentry.vuln.model import FindingState, Justification, VexStatement

# --------------------------------------------------------------------------- vocabularies

CDX_STATE = {
    "exploitable": FindingState.AFFECTED,
    "in_triage": FindingState.UNDER_INVESTIGATION,
    "not_affected": FindingState.NOT_AFFECTED,
    "false_positive": FindingState.FALSE_POSITIVE,
    "resolved": FindingState.FIXED,
    "resolved_with_pedigree": FindingState.FIXED,
}
STATE_CDX = {
    FindingState.AFFECTED: "exploitable",
    FindingState.UNDER_INVESTIGATION: "in_triage",
    FindingState.NOT_AFFECTED: "not_affected",
    FindingState.FALSE_POSITIVE: "false_positive",
    FindingState.FIXED: "resolved",
}
CDX_JUSTIFICATION = {
    "code_not_present": Justification.VULNERABLE_CODE_NOT_PRESENT,
    "code_not_reachable": Justification.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH,
    "requires_configuration": Justification.VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY,
    "requires_dependency": Justification.COMPONENT_NOT_PRESENT,
    "requires_environment": Justification.VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY,
    "protected_by_compiler": Justification.INLINE_MITIGATIONS_ALREADY_EXIST,
    "protected_at_runtime": Justification.INLINE_MITIGATIONS_ALREADY_EXIST,
    "protected_at_perimeter": Justification.INLINE_MITIGATIONS_ALREADY_EXIST,
    "protected_by_mitigating_control": Justification.INLINE_MITIGATIONS_ALREADY_EXIST,
}
JUSTIFICATION_CDX = {
    Justification.VULNERABLE_CODE_NOT_PRESENT: "code_not_present",
    Justification.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH: "code_not_reachable",
    Justification.VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY: "requires_environment",
    Justification.COMPONENT_NOT_PRESENT: "requires_dependency",
    Justification.INLINE_MITIGATIONS_ALREADY_EXIST: "protected_by_mitigating_control",
}
OPENVEX_STATE = {
    "not_affected": FindingState.NOT_AFFECTED,
    "affected": FindingState.AFFECTED,
    "fixed": FindingState.FIXED,
    "under_investigation": FindingState.UNDER_INVESTIGATION,
}
CSAF_GROUP_STATE = {
    "known_affected": FindingState.AFFECTED,
    "first_affected": FindingState.AFFECTED,
    "last_affected": FindingState.AFFECTED,
    "known_not_affected": FindingState.NOT_AFFECTED,
    "fixed": FindingState.FIXED,
    "first_fixed": FindingState.FIXED,
    "under_investigation": FindingState.UNDER_INVESTIGATION,
}
STATE_CSAF_GROUP = {
    FindingState.AFFECTED: "known_affected",
    FindingState.NOT_AFFECTED: "known_not_affected",
    FindingState.FALSE_POSITIVE: "known_not_affected",
    FindingState.FIXED: "fixed",
    FindingState.UNDER_INVESTIGATION: "under_investigation",
}


def _justification(value: Any) -> Justification | None:
    try:
        return Justification(str(value)) if value else None
    except ValueError:
        return None


def _iso(value: datetime | None) -> str:
    return (value or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- detection


def detect_vex(doc: Any) -> str | None:
    """``cyclonedx`` | ``csaf`` | ``openvex`` | None."""
    if not isinstance(doc, dict):
        return None
    if doc.get("bomFormat") == "CycloneDX":
        return "cyclonedx"
    if isinstance(doc.get("document"), dict) and "csaf_version" in doc["document"]:
        return "csaf"
    context = str(doc.get("@context", ""))
    if "openvex" in context and "statements" in doc:
        return "openvex"
    return None


def parse_vex(doc: Any, source: str) -> list[VexStatement]:
    kind = detect_vex(doc)
    if kind == "cyclonedx":
        return parse_cyclonedx_vex(doc, source)
    if kind == "csaf":
        return parse_csaf_vex(doc, source)
    if kind == "openvex":
        return parse_openvex(doc, source)
    raise DocumentError(source, "not a VEX document (CycloneDX, CSAF or OpenVEX expected)")


# --------------------------------------------------------------------------- CycloneDX


def parse_cyclonedx_vex(doc: dict[str, Any], source: str) -> list[VexStatement]:
    """Each (vulnerability, affected ref) pair becomes one statement."""
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    default_ts = parse_datetime(meta.get("timestamp"))
    purls = {
        str(c.get("bom-ref")): str(c["purl"])
        for c in as_list(doc.get("components"))
        if isinstance(c, dict) and c.get("bom-ref") and c.get("purl")
    }
    out: list[VexStatement] = []
    for v_i, vuln in enumerate(as_list(doc.get("vulnerabilities"))):
        if not isinstance(vuln, dict) or not vuln.get("id"):
            raise DocumentError(source, f"/vulnerabilities/{v_i} has no id")
        analysis = vuln.get("analysis") if isinstance(vuln.get("analysis"), dict) else {}
        assert isinstance(analysis, dict)
        native = analysis.get("state")
        state = CDX_STATE.get(str(native)) if native else FindingState.UNDER_INVESTIGATION
        if state is None:
            raise DocumentError(
                source, f"/vulnerabilities/{v_i}: unknown analysis state {native!r}"
            )
        native_just = analysis.get("justification")
        for affect in as_list(vuln.get("affects")):
            if not isinstance(affect, dict) or not affect.get("ref"):
                continue
            ref = str(affect["ref"])
            product, kind = (ref, "purl") if ref.startswith("pkg:") else (ref, "bom-ref")
            if kind == "bom-ref" and ref in purls:
                product, kind = purls[ref], "purl"
            versions = tuple(
                (str(v.get("range") or v.get("version")), str(v.get("status") or "affected"))
                for v in as_list(affect.get("versions"))
                if isinstance(v, dict) and (v.get("range") or v.get("version"))
            )
            out.append(
                VexStatement(
                    vuln_id=str(vuln["id"]),
                    product=product,
                    product_kind=kind,
                    state=state,
                    justification=CDX_JUSTIFICATION.get(str(native_just)) if native_just else None,
                    detail=analysis.get("detail"),
                    response=tuple(str(r) for r in as_list(analysis.get("response"))),
                    action=vuln.get("recommendation"),
                    timestamp=parse_datetime(vuln.get("updated") or vuln.get("published"))
                    or default_ts,
                    source=source,
                    native_state=str(native) if native else None,
                    native_justification=str(native_just) if native_just else None,
                    versions=versions,
                )
            )
    return out


def export_cyclonedx_vex(
    statements: Sequence[VexStatement],
    *,
    product_name: str | None = None,
    product_version: str | None = None,
    serial: str | None = None,
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """A CycloneDX 1.5 VEX document; statements sharing an analysis share one entry."""
    grouped: dict[tuple[Any, ...], list[VexStatement]] = defaultdict(list)
    for s in statements:
        key = (s.vuln_id, _cdx_state(s), _cdx_justification(s), s.detail, s.response, s.action)
        grouped[key].append(s)
    vulns = []
    for (vid, state, just, detail, response, action), items in grouped.items():
        analysis: dict[str, Any] = {"state": state}
        if just:
            analysis["justification"] = just
        if response:
            analysis["response"] = list(response)
        if detail:
            analysis["detail"] = detail
        entry: dict[str, Any] = {"id": vid}
        if vid.upper().startswith("CVE-"):
            entry["source"] = {"name": "NVD", "url": f"https://nvd.nist.gov/vuln/detail/{vid}"}
        if action:
            entry["recommendation"] = action
        entry["analysis"] = analysis
        affects = []
        for s in items:
            affect: dict[str, Any] = {"ref": s.product}
            if s.versions:
                affect["versions"] = [
                    {"range" if v.startswith("vers:") else "version": v, "status": st}
                    for v, st in s.versions
                ]
            affects.append(affect)
        entry["affects"] = affects
        vulns.append(entry)
    doc: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial or f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": _iso(timestamp),
            "tools": {"components": [{"type": "application", "name": "medsentry"}]},
        },
        "vulnerabilities": vulns,
    }
    if product_name:
        component: dict[str, Any] = {"type": "device", "name": product_name}
        if product_version:
            component["version"] = product_version
        doc["metadata"]["component"] = component
    return doc


def _cdx_state(s: VexStatement) -> str:
    if s.native_state and CDX_STATE.get(s.native_state) == s.state:
        return s.native_state
    return STATE_CDX[s.state]


def _cdx_justification(s: VexStatement) -> str | None:
    if s.native_justification in CDX_JUSTIFICATION:
        return s.native_justification
    return JUSTIFICATION_CDX.get(s.justification) if s.justification else None


# --------------------------------------------------------------------------- CSAF VEX


def parse_csaf_vex(doc: dict[str, Any], source: str) -> list[VexStatement]:
    """Statements per (vulnerability, product, status group) of a CSAF document."""
    document = doc.get("document") or {}
    tracking = document.get("tracking") or {}
    ts = parse_datetime(tracking.get("current_release_date"))
    tree = doc.get("product_tree") or {}
    products = flatten_product_tree(tree)
    groups = product_groups(tree)
    out: list[VexStatement] = []
    for v_i, vuln in enumerate(as_list(doc.get("vulnerabilities"))):
        if not isinstance(vuln, dict):
            continue
        vid = vuln.get("cve") or next(
            (i.get("text") for i in as_list(vuln.get("ids")) if isinstance(i, dict)), None
        )
        if not vid:
            raise DocumentError(source, f"/vulnerabilities/{v_i} has neither cve nor ids")
        flags = _by_product(vuln.get("flags"), groups, "label")
        impacts = _by_product(
            [t for t in as_list(vuln.get("threats")) if _get(t, "category") == "impact"],
            groups,
            "details",
        )
        remediations: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for rem in as_list(vuln.get("remediations")):
            if isinstance(rem, dict):
                for pid in _expand(rem, groups):
                    remediations[pid].append(rem)
        for group, ids in (vuln.get("product_status") or {}).items():
            state = CSAF_GROUP_STATE.get(group)
            if state is None:
                continue
            for pid in as_list(ids):
                pid = str(pid)
                info = products.get(pid)
                product, kind = pid, "csaf_product_id"
                if info is not None:
                    if info.purl:
                        product, kind = info.purl, "purl"
                    elif info.cpe:
                        product, kind = info.cpe, "cpe"
                    elif info.full_name:
                        product, kind = info.full_name, "name"
                rems = remediations.get(pid, [])
                action = next((str(r.get("details")) for r in rems if r.get("details")), None)
                out.append(
                    VexStatement(
                        vuln_id=str(vid),
                        product=product,
                        product_kind=kind,
                        state=state,
                        justification=_justification(flags.get(pid)),
                        detail=impacts.get(pid),
                        response=tuple(dict.fromkeys(str(r.get("category")) for r in rems)),
                        action=action if state == FindingState.AFFECTED else None,
                        timestamp=ts,
                        source=source,
                        native_state=group,
                        native_justification=flags.get(pid),
                    )
                )
    return out


def _get(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else None


def _expand(item: dict[str, Any], groups: dict[str, tuple[str, ...]]) -> set[str]:
    ids = {str(p) for p in as_list(item.get("product_ids"))}
    for gid in as_list(item.get("group_ids")):
        ids.update(groups.get(str(gid), ()))
    return ids


def _by_product(items: Any, groups: dict[str, tuple[str, ...]], key: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in as_list(items):
        if isinstance(item, dict) and item.get(key):
            for pid in _expand(item, groups):
                out.setdefault(pid, str(item[key]))
    return out


def export_csaf_vex(
    statements: Sequence[VexStatement],
    *,
    publisher: str = "MedSentry user",
    namespace: str = "https://medsentry.invalid",
    document_id: str | None = None,
    title: str = "VEX statements",
    vendor: str = "unknown vendor",
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """A CSAF 2.0 ``csaf_vex`` document that passes the schema and the mandatory tests.

    A not-affected product without a recorded justification or impact statement gets an
    impact statement saying so, because CSAF VEX requires one (test 6.1.27.9); an affected
    product without an action gets "No action statement recorded." (6.1.27.10).
    """
    if not statements:
        raise DocumentError("vex export", "no VEX statements to export")
    when = _iso(timestamp)
    doc_id = document_id or f"MEDSENTRY-VEX-{uuid.uuid4().hex[:12].upper()}"
    # One CSAF product per (identifier, version set): CycloneDX may give one ref different
    # statuses for different versions, which CSAF expresses as different products.
    pids: dict[tuple[str, str, tuple[tuple[str, str], ...]], str] = {}
    branches: list[dict[str, Any]] = []
    for s in statements:
        key = _product_key(s)
        if key in pids:
            continue
        pid = f"CSAFPID-{len(pids) + 1:04d}"
        pids[key] = pid
        fpn: dict[str, Any] = {"name": s.product, "product_id": pid}
        if s.product_kind == "purl":
            fpn["product_identification_helper"] = {"purl": s.product}
        elif s.product_kind == "cpe":
            fpn["product_identification_helper"] = {"cpe": s.product}
        if s.versions:
            label = " | ".join(v for v, _ in s.versions)
            fpn["name"] = f"{s.product} {label}"
            branches.append(
                {
                    "category": "product_name",
                    "name": s.product,
                    "branches": [
                        {"category": "product_version_range", "name": label, "product": fpn}
                    ],
                }
            )
        else:
            branches.append({"category": "product_name", "name": s.product, "product": fpn})
    by_vuln: dict[str, list[VexStatement]] = defaultdict(list)
    for s in statements:
        by_vuln[s.vuln_id].append(s)
    vulnerabilities = []
    for vid, items in by_vuln.items():
        status: dict[str, list[str]] = defaultdict(list)
        flags: dict[str, list[str]] = defaultdict(list)
        threats: dict[str, list[str]] = defaultdict(list)
        remediations: dict[tuple[str, str], list[str]] = defaultdict(list)
        for s in items:
            pid = pids[_product_key(s)]
            group = (
                s.native_state
                if s.native_state in CSAF_GROUP_STATE
                and CSAF_GROUP_STATE[s.native_state] == s.state
                else STATE_CSAF_GROUP[s.state]
            )
            if pid not in status[group]:
                status[group].append(pid)
            if group == "known_not_affected":
                if s.justification:
                    _add(flags[s.justification.value], pid)
                if s.detail or not s.justification:
                    _add(threats[s.detail or "Not affected; no justification was recorded."], pid)
            if group == "known_affected":
                category = next((r for r in s.response if r in _CSAF_REMEDIATION), "mitigation")
                _add(remediations[(category, s.action or "No action statement recorded.")], pid)
        entry: dict[str, Any] = {
            "notes": [{"category": "description", "text": f"Status of {vid}.", "title": "Status"}],
            "product_status": dict(status),
        }
        if vid.upper().startswith("CVE-"):
            entry = {"cve": vid, **entry}
        else:
            entry = {"ids": [{"system_name": "source", "text": vid}], **entry}
        if flags:
            entry["flags"] = [{"label": k, "product_ids": v} for k, v in flags.items()]
        if threats:
            entry["threats"] = [
                {"category": "impact", "details": k, "product_ids": v} for k, v in threats.items()
            ]
        if remediations:
            entry["remediations"] = [
                {"category": c, "details": d, "product_ids": v}
                for (c, d), v in remediations.items()
            ]
        vulnerabilities.append(entry)
    doc: dict[str, Any] = {
        "document": {
            "category": "csaf_vex",
            "csaf_version": "2.0",
            "publisher": {"category": "vendor", "name": publisher, "namespace": namespace},
            "title": title,
            "tracking": {
                "current_release_date": when,
                "id": doc_id,
                "initial_release_date": when,
                "revision_history": [{"date": when, "number": "1", "summary": "Initial version."}],
                "status": "final",
                "version": "1",
            },
        },
        "product_tree": {
            "branches": [{"category": "vendor", "name": vendor, "branches": branches}]
        },
        "vulnerabilities": vulnerabilities,
    }
    return doc


def _product_key(s: VexStatement) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    return (s.product_kind, s.product, s.versions)


def _add(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)


_CSAF_REMEDIATION = ("vendor_fix", "mitigation", "workaround", "none_available", "no_fix_planned")


# --------------------------------------------------------------------------- OpenVEX


def parse_openvex(doc: dict[str, Any], source: str) -> list[VexStatement]:
    default_ts = parse_datetime(doc.get("timestamp"))
    out: list[VexStatement] = []
    for s_i, st in enumerate(as_list(doc.get("statements"))):
        if not isinstance(st, dict):
            raise DocumentError(source, f"/statements/{s_i} is not an object")
        vuln = st.get("vulnerability")
        vid = vuln.get("name") or vuln.get("@id") if isinstance(vuln, dict) else vuln
        if not vid:
            raise DocumentError(source, f"/statements/{s_i} names no vulnerability")
        status = str(st.get("status", ""))
        state = OPENVEX_STATE.get(status)
        if state is None:
            raise DocumentError(source, f"/statements/{s_i}: unknown status {status!r}")
        for product in _openvex_products(st.get("products")):
            kind = (
                "purl"
                if product.startswith("pkg:")
                else ("cpe" if product.startswith("cpe:") else "name")
            )
            out.append(
                VexStatement(
                    vuln_id=str(vid),
                    product=product,
                    product_kind=kind,
                    state=state,
                    justification=_justification(st.get("justification")),
                    detail=st.get("impact_statement") or st.get("status_notes"),
                    action=st.get("action_statement"),
                    timestamp=parse_datetime(st.get("timestamp")) or default_ts,
                    source=source,
                    native_state=status,
                    native_justification=st.get("justification"),
                )
            )
    return out


def _openvex_products(products: Any) -> Iterable[str]:
    for product in as_list(products):
        if isinstance(product, str):
            yield product
        elif isinstance(product, dict):
            ids = product.get("identifiers") if isinstance(product.get("identifiers"), dict) else {}
            assert isinstance(ids, dict)
            ident = product.get("@id") or ids.get("purl") or ids.get("cpe23") or ids.get("cpe22")
            if ident:
                yield str(ident)


def normalise(statements: Iterable[VexStatement]) -> set[VexStatement]:
    """Statements without their source and timestamp, for comparing two documents."""
    return {replace(s, source=None, timestamp=None) for s in statements}
