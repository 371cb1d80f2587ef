"""Findings: stored components matched against stored advisories, triaged with an audit trail.

A finding is one (component, advisory, vulnerability). Matching creates findings for
products an advisory lists as affected or under investigation; re-running it refreshes the
evidence and keeps every human decision. When a newer advisory revision lists the matched
product as fixed or not affected, a finding the matcher opened is moved accordingly (and the
move is audited); findings a person triaged are left as they are.

CISA KEV takes part twice: a finding whose vulnerability is in the catalog is flagged (due
date, ransomware use) and raised in priority; and a component whose vendor and product names
match a KEV entry that no advisory finding covers can get a low-confidence lead (source
``kev``, state ``under_investigation``, opt-in), since KEV gives no versions to check.

Every state change appends a ``finding_audit`` row (who, when, old → new, why); the database
refuses to change or delete those rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from medsentry.errors import InputError
from medsentry.store.models.core import DeviceRow
from medsentry.store.models.vuln import (
    AdvisoryRow,
    AffectedProductRow,
    ComponentRow,
    CveRow,
    EpssRow,
    FindingAuditRow,
    FindingRow,
    KevRow,
    SbomRow,
)
from medsentry.vuln.model import (
    AffectedProduct,
    Component,
    FindingState,
    Justification,
    Match,
    ProductStatus,
    Sbom,
    VexStatement,
)
from medsentry.vuln.repository import affected_from_row, save_sbom
from medsentry.vuln.scoring.priority import Exposure, prioritise

MATCHER = "medsentry-matcher"
_OPENING = {
    ProductStatus.KNOWN_AFFECTED: FindingState.AFFECTED,
    ProductStatus.UNDER_INVESTIGATION: FindingState.UNDER_INVESTIGATION,
}
_CLOSING = {
    ProductStatus.FIXED: FindingState.FIXED,
    ProductStatus.KNOWN_NOT_AFFECTED: FindingState.NOT_AFFECTED,
}
# Services that carry credentials or patient data in clear text, by the port a device offers.
CLEARTEXT_PORTS = {21: "ftp", 23: "telnet", 80: "http", 104: "dicom", 1883: "mqtt", 2575: "hl7"}
# A finding for a CVE whose own summary in the advisory describes another of its products
# keeps the advisory's word (affected) but at this share of the match's confidence.
OTHER_PRODUCT_FACTOR = 0.5
_STATUS_RANK = {
    ProductStatus.KNOWN_AFFECTED: 0,
    ProductStatus.UNDER_INVESTIGATION: 1,
    ProductStatus.FIXED: 2,
    ProductStatus.KNOWN_NOT_AFFECTED: 3,
    ProductStatus.RECOMMENDED: 4,
}


@dataclass
class MatchRun:
    components: int = 0
    products: int = 0
    matches: int = 0
    new: int = 0
    refreshed: int = 0
    closed: int = 0  # moved to fixed / not_affected by a newer advisory
    kev_leads: int = 0  # components named by a KEV entry no advisory finding covers
    by_method: dict[str, int] = field(default_factory=dict)


def _audit(
    session: Session,
    finding: FindingRow,
    *,
    old: str | None,
    new: str,
    actor: str,
    origin: str,
    justification: str | None = None,
    comment: str | None = None,
    key: str | None = None,
) -> None:
    session.add(
        FindingAuditRow(
            finding_id=finding.id,
            finding_key=key or _key_text(finding),
            actor=actor,
            at=time.time(),
            old_state=old,
            new_state=new,
            justification=justification,
            comment=comment,
            origin=origin,
        )
    )


def _key_text(f: FindingRow) -> str:
    comp = f.component
    what = comp.purl or f"{comp.name} {comp.version or ''}".strip() if comp else "?"
    return f"{f.vuln_id} in {what} ({f.advisory_source}:{f.advisory_id})"[:1024]


# --------------------------------------------------------------------------- matching


def _components(session: Session, sbom_ids: Sequence[int] | None) -> list[Component]:
    query = select(ComponentRow)
    if sbom_ids:
        query = query.where(ComponentRow.sbom_id.in_(list(sbom_ids)))
    out = []
    for row in session.scalars(query):
        # The matcher reports component_ref: use the row id so results map straight back.
        out.append(
            Component(
                ref=str(row.id),
                name=row.name,
                version=row.version,
                purl=row.purl,
                cpes=tuple(row.cpes or ()),
                supplier=row.supplier,
                author=row.author,
                group=row.group,
                type=row.type,
            )
        )
    return out


def _products(
    session: Session,
) -> tuple[list[tuple[str, AffectedProduct]], dict[int, tuple[str, str]]]:
    rows = session.execute(
        select(AffectedProductRow, AdvisoryRow.source, AdvisoryRow.advisory_id).join(
            AdvisoryRow, AffectedProductRow.advisory_pk == AdvisoryRow.id
        )
    ).all()
    pairs: list[tuple[str, AffectedProduct]] = []
    owner: dict[int, tuple[str, str]] = {}
    for row, source, advisory_id in rows:
        product = affected_from_row(row)
        pairs.append((advisory_id, product))
        owner[id(product)] = (source, advisory_id)
    return pairs, owner


def match_and_store(
    session: Session,
    *,
    sbom_ids: Sequence[int] | None = None,
    match_unversioned: bool = False,
    kev_names: bool = False,
) -> MatchRun:
    """Match stored components (of ``sbom_ids``, or all) against every stored advisory.

    ``kev_names`` also opens KEV name leads (see the module docstring). They are opt-in:
    being version-blind, they include products long fixed (any OpenSSL is named by
    Heartbleed's entry), and reports count open KEV findings.
    """
    from medsentry.vuln.match.engine import Matcher

    run = MatchRun()
    components = _components(session, sbom_ids)
    pairs, owner = _products(session)
    run.components, run.products = len(components), len(pairs)
    if not components:
        return run
    best: dict[tuple[int, str, str, str], Match] = {}
    if pairs:
        matcher = Matcher(
            pairs,
            statuses=(*_OPENING, *_CLOSING),
            match_unversioned=match_unversioned,
        )
        for match in matcher.match(components):
            source, advisory_id = owner[id(match.product)]
            run.matches += 1
            vulns = match.product.cves or (advisory_id,)
            for vuln_id in vulns:
                key = (int(match.component_ref), source, advisory_id, vuln_id)
                held = best.get(key)
                if held is None or _better(match, held):
                    best[key] = match
    _check_summaries(session, best, pairs, owner)
    if kev_names:
        _add_kev_leads(session, components, best, run)
    if best:
        _store_matches(session, best, run)
    return run


def _check_summaries(
    session: Session,
    best: dict[tuple[int, str, str, str], Match],
    pairs: list[tuple[str, AffectedProduct]],
    owner: dict[int, tuple[str, str]],
) -> None:
    """Lower findings whose CVE summary speaks of another product of the same advisory.

    Multi-project advisories (CISA's BadAlloc file lists 28 products) often mark every
    product affected by every CVE, while each CVE's summary names the one product it was
    found in. The advisory's status is kept; the confidence and the reason say the doubt.
    """
    advisories = {(k[1], k[2]) for k in best}
    if not advisories:
        return
    names: dict[tuple[str, str], set[str]] = defaultdict(set)
    for _, product in pairs:
        held = owner[id(product)]
        if held in advisories and product.product:
            names[held].add(_words(product.product))
    summaries: dict[tuple[str, str, str], str] = {}
    for source, advisory_id in advisories:
        if len(names[(source, advisory_id)]) < 2:
            continue  # one product: nothing to tell apart
        details = session.scalar(
            select(AdvisoryRow.details).where(
                AdvisoryRow.source == source, AdvisoryRow.advisory_id == advisory_id
            )
        )
        for vuln in (details or {}).get("vulnerabilities", []):
            if vuln.get("id") and vuln.get("description"):
                summaries[(source, advisory_id, vuln["id"])] = _words(vuln["description"])
    for key, match in list(best.items()):
        summary = summaries.get(key[1:])
        if summary is None or not match.product.product:
            continue
        own = _words(match.product.product)
        others = sorted(
            n for n in names[key[1:3]] if n != own and _mentions(summary, n, loosely=True)
        )
        if others and not _mentions(summary, own):
            best[key] = dataclasses.replace(
                match,
                confidence=round(match.confidence * OTHER_PRODUCT_FACTOR, 2),
                reason=f"{match.reason}; but the advisory's summary of {key[3]} describes "
                f"{', '.join(repr(o) for o in others[:3])}, not this product: it may list "
                "every product for every CVE",
            )


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _mentions(text: str, name: str, *, loosely: bool = False) -> bool:
    """``name`` (lower-case words) appears in ``text``, also written without spaces
    ("Wind River" / "Windriver"); ``loosely`` also accepts its first two words
    ("ARM mbed product" for "ARM Mbed OS")."""
    if not name:
        return False
    if f" {name} " in f" {text} ":
        return True
    if " " in name and name.replace(" ", "") in text.replace(" ", ""):
        return True
    head = name.split()[:2]
    return loosely and len(head) == 2 and f" {' '.join(head)} " in f" {text} "


def _add_kev_leads(
    session: Session,
    components: list[Component],
    best: dict[tuple[int, str, str, str], Match],
    run: MatchRun,
) -> None:
    """KEV name matches for (component, CVE) pairs no advisory finding covers."""
    from medsentry.vuln.match.kev import KevEntry, KevNameMatcher

    entries = [
        KevEntry(cve, vendor or "", product or "", name, due, ransomware)
        for cve, vendor, product, name, due, ransomware in session.execute(
            select(
                KevRow.cve_id,
                KevRow.vendor_project,
                KevRow.product,
                KevRow.name,
                KevRow.due_date,
                KevRow.ransomware,
            )
        )
    ]
    if not entries:
        return
    leads = KevNameMatcher(entries).match(components)
    if not leads:
        return
    covered = {(k[0], k[3]) for k in best}
    comp_ids = sorted({int(m.component_ref) for m in leads})
    for start in range(0, len(comp_ids), 500):
        rows = session.execute(
            select(FindingRow.component_id, FindingRow.vuln_id).where(
                FindingRow.component_id.in_(comp_ids[start : start + 500]),
                FindingRow.advisory_source != "kev",
            )
        )
        covered.update((component_id, vuln_id) for component_id, vuln_id in rows)
    for lead in leads:
        cve = lead.product.cves[0]
        if (int(lead.component_ref), cve) in covered:
            continue
        best[(int(lead.component_ref), "kev", cve, cve)] = lead
        run.kev_leads += 1


def _better(a: Match, b: Match) -> bool:
    ra, rb = _STATUS_RANK[a.product.status], _STATUS_RANK[b.product.status]
    return (ra, -a.confidence) < (rb, -b.confidence)


def _store_matches(
    session: Session, best: dict[tuple[int, str, str, str], Match], run: MatchRun
) -> None:
    now = time.time()
    comp_ids = sorted({k[0] for k in best})
    existing: dict[tuple[int, str, str, str], FindingRow] = {}
    for start in range(0, len(comp_ids), 500):
        chunk = comp_ids[start : start + 500]
        for row in session.scalars(select(FindingRow).where(FindingRow.component_id.in_(chunk))):
            existing[(row.component_id, row.advisory_source, row.advisory_id, row.vuln_id)] = row
    human = _human_triaged(session, [f.id for f in existing.values()])
    enrichment = _enrichment(session, {k[3] for k in best}, {(k[1], k[2]) for k in best})
    sbom_of = dict(
        session.execute(
            select(ComponentRow.id, ComponentRow.sbom_id).where(ComponentRow.id.in_(comp_ids))
        ).all()
    )
    exposures = {sid: device_exposure(session, sid) for sid in set(sbom_of.values())}
    for key, match in best.items():
        status = match.product.status
        method = match.method.value
        run.by_method[method] = run.by_method.get(method, 0) + 1
        held = existing.get(key)
        if held is None:
            state = _OPENING.get(status)
            if state is None:
                continue  # fixed / not affected and never reported: nothing to say
            row = FindingRow(
                component_id=key[0],
                advisory_source=key[1],
                advisory_id=key[2],
                vuln_id=key[3],
                product_id=match.product.product_id,
                method=method,
                reason=match.reason,
                confidence=match.confidence,
                state=state.value,
                response=[],
                first_seen=now,
                last_seen=now,
                updated_at=now,
            )
            _set_priority(row, enrichment, exposures.get(sbom_of.get(key[0], -1)))
            session.add(row)
            session.flush()
            _audit(
                session,
                row,
                old=None,
                new=state.value,
                actor=MATCHER,
                origin="matcher",
                comment=match.reason,
            )
            run.new += 1
            continue
        row = held
        row.method, row.reason, row.confidence = method, match.reason, match.confidence
        row.product_id = match.product.product_id
        row.last_seen = now
        _set_priority(row, enrichment, exposures.get(sbom_of.get(key[0], -1)))
        run.refreshed += 1
        closing = _CLOSING.get(status)
        if (
            closing is not None
            and row.id not in human
            and row.state in (FindingState.AFFECTED.value, FindingState.UNDER_INVESTIGATION.value)
        ):
            old = row.state
            row.state, row.updated_at = closing.value, now
            _audit(
                session,
                row,
                old=old,
                new=closing.value,
                actor=MATCHER,
                origin="matcher",
                comment=f"advisory {key[2]} now lists this product as {status.value}",
            )
            run.closed += 1


def _human_triaged(session: Session, finding_ids: list[int]) -> set[int]:
    out: set[int] = set()
    for start in range(0, len(finding_ids), 500):
        chunk = finding_ids[start : start + 500]
        out.update(
            session.scalars(
                select(FindingAuditRow.finding_id).where(
                    FindingAuditRow.finding_id.in_(chunk), FindingAuditRow.origin != "matcher"
                )
            )
        )
    return out


def inventory_sboms(session: Session) -> list[int]:
    """One small SBOM per device model seen on the network that has no SBOM of its own.

    Hospitals rarely hold their devices' SBOMs; the device itself (maker + model) is the
    component, so medical-device advisories can still be matched against the inventory.
    Devices carry no firmware version, so these match only with ``match_unversioned``.
    """
    models: dict[tuple[str, str], tuple[str, str]] = {}
    for maker, model in session.execute(
        select(DeviceRow.manufacturer, DeviceRow.model).where(
            DeviceRow.manufacturer.is_not(None), DeviceRow.model.is_not(None)
        )
    ):
        if maker and model:
            models.setdefault((maker.lower(), model.lower()), (maker, model))
    ids = []
    for maker, model in models.values():
        if sboms_for_devices_by_name(session, maker, model, kind_not="inventory"):
            continue
        digest = hashlib.sha256(f"inventory\0{maker.lower()}\0{model.lower()}".encode()).hexdigest()
        component = Component(ref="device", name=model, supplier=maker, type="device")
        sbom = Sbom(
            format="inventory",
            spec_version="1",
            serial=None,
            name=model,
            version=None,
            timestamp=None,
            authors=("medsentry inventory",),
            components=(component,),
        )
        row, _ = save_sbom(session, sbom, digest, manufacturer=maker, model=model)
        ids.append(row.id)
    return ids


def sboms_for_devices_by_name(
    session: Session, maker: str, model: str, *, kind_not: str | None = None
) -> list[int]:
    query = select(SbomRow.id).where(
        func.lower(SbomRow.model) == model.lower(),
        or_(SbomRow.manufacturer.is_(None), func.lower(SbomRow.manufacturer) == maker.lower()),
    )
    if kind_not:
        query = query.where(SbomRow.format != kind_not)
    return list(session.scalars(query))


# --------------------------------------------------------------------------- priority


@dataclass
class _Enrichment:
    cvss: dict[tuple[str, str, str], float]  # (source, advisory, vuln) → best base score
    kev: dict[str, bool]  # CVE in KEV → known use in ransomware campaigns
    epss: dict[str, tuple[float, float]]
    cve_cvss: dict[str, float] = field(default_factory=dict)  # from CVE records (CVE 5, NVD)


def _enrichment(session: Session, vulns: set[str], advisories: set[tuple[str, str]]) -> _Enrichment:
    cvss: dict[tuple[str, str, str], float] = {}
    for source, advisory_id in advisories:
        row = session.scalar(
            select(AdvisoryRow).where(
                AdvisoryRow.source == source, AdvisoryRow.advisory_id == advisory_id
            )
        )
        if row is None:
            continue
        for score in (row.details or {}).get("scores", []):
            base = score.get("base_score")
            vid = score.get("cve") or advisory_id
            if base is None:
                base = _score_vector(score.get("vector"))
            if base is not None:
                key = (source, advisory_id, vid)
                cvss[key] = max(cvss.get(key, 0.0), float(base))
    ids = sorted(vulns)
    kev: dict[str, bool] = {}
    epss: dict[str, tuple[float, float]] = {}
    cve_cvss: dict[str, float] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for cve, ransomware in session.execute(
            select(KevRow.cve_id, KevRow.ransomware).where(KevRow.cve_id.in_(chunk))
        ):
            kev[cve] = (ransomware or "").strip().lower() == "known"
        for cve, score, pct in session.execute(
            select(EpssRow.cve_id, EpssRow.score, EpssRow.percentile).where(
                EpssRow.cve_id.in_(chunk)
            )
        ):
            epss[cve] = (score, pct)
        for cve, scores in session.execute(
            select(CveRow.cve_id, CveRow.scores).where(CveRow.cve_id.in_(chunk))
        ):
            bases = [_base_of(s) for s in scores or ()]
            known = [b for b in bases if b is not None]
            if known:
                cve_cvss[cve] = max(known)
    return _Enrichment(cvss, kev, epss, cve_cvss)


def _base_of(score: Any) -> float | None:
    if not isinstance(score, dict):
        return None
    base = score.get("base_score")
    return float(base) if base is not None else _score_vector(score.get("vector"))


def _score_vector(vector: Any) -> float | None:
    if not vector:
        return None
    try:
        from medsentry.vuln.scoring.cvss import score_vector

        return float(score_vector(str(vector)).base)
    except Exception:  # an unscorable vector leaves the score unknown
        return None


def _set_priority(row: FindingRow, e: _Enrichment, exposure: Exposure | None = None) -> None:
    # The advisory's own score first; a CVE record's score when the advisory has none.
    cvss = e.cvss.get((row.advisory_source, row.advisory_id, row.vuln_id))
    if cvss is None:
        cvss = e.cve_cvss.get(row.vuln_id)
    epss = e.epss.get(row.vuln_id)
    level, score, reason = priority_for(
        cvss=cvss,
        kev=row.vuln_id in e.kev,
        kev_ransomware=e.kev.get(row.vuln_id, False),
        epss=epss[0] if epss else None,
        epss_percentile=epss[1] if epss else None,
        exposure=exposure,
    )
    row.priority, row.priority_score, row.priority_reason = level, score, reason


def priority_for(
    *,
    cvss: float | None,
    kev: bool,
    epss: float | None,
    epss_percentile: float | None,
    exposure: Exposure | None = None,
    kev_ransomware: bool = False,
) -> tuple[str, float | None, str]:
    """(P1..P4, CVSS used, one-line reason) from the scoring policy."""
    result = prioritise(
        cvss=cvss,
        kev=kev,
        kev_ransomware=kev_ransomware,
        epss=epss,
        epss_percentile=epss_percentile,
        exposure=exposure,
    )
    return result.level, cvss, result.reason


def device_exposure(session: Session, sbom_id: int) -> Exposure | None:
    """What the network showed about the devices an SBOM describes (None: no such device).

    "Reachable from outside" is read as: the device offers a service and exchanges traffic
    with a public address. Clear-text services are the well-known ports it offers.
    """
    sbom = session.get(SbomRow, sbom_id)
    if sbom is None or not sbom.model:
        return None
    devices = [
        d
        for d in session.scalars(
            select(DeviceRow).where(func.lower(DeviceRow.model) == sbom.model.lower())
        )
        if not sbom.manufacturer
        or not d.manufacturer
        or d.manufacturer.lower() == sbom.manufacturer.lower()
    ]
    if not devices:
        return None
    offers = [svc for d in devices for svc in d.services if svc.role == "offers"]
    public = any(_is_public(p.peer_ip) for d in devices for p in d.peers)
    cleartext = sorted({CLEARTEXT_PORTS[s.port] for s in offers if s.port in CLEARTEXT_PORTS})
    return Exposure(
        reachable_from_outside=public and bool(offers),
        cleartext_services=tuple(cleartext),
        talks_to_internet=public,
    )


def _is_public(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_global
    except ValueError:
        return False


# --------------------------------------------------------------------------- triage


def set_state(
    session: Session,
    finding_id: int,
    state: FindingState | str,
    *,
    actor: str,
    justification: Justification | str | None = None,
    detail: str | None = None,
    response: Sequence[str] = (),
    comment: str | None = None,
    origin: str = "cli",
) -> FindingRow:
    """Change a finding's state, recording who did it and why."""
    try:
        new = FindingState(state)
    except ValueError as exc:
        allowed = ", ".join(s.value for s in FindingState)
        raise InputError(f"unknown state {state!r}; use one of: {allowed}") from exc
    just: Justification | None = None
    if justification is not None:
        try:
            just = Justification(justification)
        except ValueError as exc:
            allowed = ", ".join(j.value for j in Justification)
            raise InputError(
                f"unknown justification {justification!r}; use one of: {allowed}"
            ) from exc
    if new == FindingState.NOT_AFFECTED and just is None and not detail:
        raise InputError(
            "not_affected needs a --justification (or an impact statement in --detail), "
            "as VEX requires"
        )
    if not actor.strip():
        raise InputError("say who makes the change (--actor)")
    row = session.get(FindingRow, finding_id)
    if row is None:
        raise InputError(f"no finding with id {finding_id}; list them with `medsentry findings`")
    old = row.state
    row.state = new.value
    row.justification = just.value if just else None
    if detail is not None:
        row.detail = detail
    if response:
        row.response = list(response)
    row.updated_at = time.time()
    _audit(
        session,
        row,
        old=old,
        new=new.value,
        actor=actor,
        origin=origin,
        justification=row.justification,
        comment=comment,
    )
    return row


def audit_trail(session: Session, finding_id: int) -> list[FindingAuditRow]:
    return list(
        session.scalars(
            select(FindingAuditRow)
            .where(FindingAuditRow.finding_id == finding_id)
            .order_by(FindingAuditRow.id)
        )
    )


# --------------------------------------------------------------------------- listing


@dataclass
class FindingView:
    id: int
    vuln_id: str
    advisory: str
    component: str
    purl: str | None
    sbom_id: int
    device: str | None
    state: str
    priority: str | None
    priority_reason: str | None
    confidence: float
    method: str
    reason: str
    justification: str | None
    kev: bool = False  # the vulnerability is in CISA's Known Exploited Vulnerabilities
    kev_due_date: str | None = None  # remediation due date CISA set for federal agencies
    kev_ransomware: str | None = None  # "Known" / "Unknown" use in ransomware campaigns


def devices_for(session: Session, device: str) -> list[DeviceRow]:
    """Devices named by id, key, MAC, or manufacturer/model text."""
    query = select(DeviceRow)
    conditions = [DeviceRow.key == device, func.lower(DeviceRow.mac) == device.lower()]
    if device.isdigit():
        conditions.append(DeviceRow.id == int(device))
    conditions.append(func.lower(DeviceRow.model) == device.lower())
    return list(session.scalars(query.where(or_(*conditions))))


def sboms_for_devices(session: Session, devices: Sequence[DeviceRow]) -> list[int]:
    """SBOMs whose manufacturer/model name the devices (case-insensitive)."""
    ids: set[int] = set()
    for dev in devices:
        if not dev.model:
            continue
        query = select(SbomRow.id).where(func.lower(SbomRow.model) == dev.model.lower())
        if dev.manufacturer:
            query = query.where(
                or_(
                    SbomRow.manufacturer.is_(None),
                    func.lower(SbomRow.manufacturer) == dev.manufacturer.lower(),
                )
            )
        ids.update(session.scalars(query))
    return sorted(ids)


def list_findings(
    session: Session,
    *,
    device: str | None = None,
    priority: str | None = None,
    state: str | None = None,
    sbom_id: int | None = None,
    limit: int | None = None,
) -> list[FindingView]:
    query = (
        select(FindingRow, ComponentRow, SbomRow, KevRow.cve_id, KevRow.due_date, KevRow.ransomware)
        .join(ComponentRow, FindingRow.component_id == ComponentRow.id)
        .join(SbomRow, ComponentRow.sbom_id == SbomRow.id)
        .outerjoin(KevRow, KevRow.cve_id == FindingRow.vuln_id)
    )
    if device is not None:
        devs = devices_for(session, device)
        if not devs:
            raise InputError(f"no device matches {device!r}; list devices with `medsentry devices`")
        query = query.where(SbomRow.id.in_(sboms_for_devices(session, devs) or [-1]))
    if priority:
        wanted = [p.strip().upper() for p in priority.split(",")]
        query = query.where(FindingRow.priority.in_(wanted))
    if state:
        query = query.where(FindingRow.state.in_([s.strip() for s in state.split(",")]))
    if sbom_id is not None:
        query = query.where(SbomRow.id == sbom_id)
    query = query.order_by(
        FindingRow.priority, FindingRow.priority_score.desc(), FindingRow.vuln_id, FindingRow.id
    )
    if limit:
        query = query.limit(limit)
    out = []
    for f, comp, sbom, kev_cve, kev_due, kev_ransomware in session.execute(query):
        in_kev = kev_cve is not None
        out.append(
            FindingView(
                id=f.id,
                vuln_id=f.vuln_id,
                advisory=f"{f.advisory_source}:{f.advisory_id}",
                component=f"{comp.name} {comp.version or ''}".strip(),
                purl=comp.purl,
                sbom_id=sbom.id,
                device=" ".join(p for p in (sbom.manufacturer, sbom.model) if p) or None,
                state=f.state,
                priority=f.priority,
                priority_reason=f.priority_reason,
                confidence=f.confidence,
                method=f.method,
                reason=f.reason,
                justification=f.justification,
                kev=in_kev,
                kev_due_date=kev_due,
                kev_ransomware=kev_ransomware,
            )
        )
    return out


# --------------------------------------------------------------------------- VEX


def statements_from_findings(
    session: Session, *, sbom_id: int | None = None, include_matcher_only: bool = True
) -> list[VexStatement]:
    """VEX statements for the findings (of one SBOM, or all)."""
    query = (
        select(FindingRow, ComponentRow, SbomRow)
        .join(ComponentRow, FindingRow.component_id == ComponentRow.id)
        .join(SbomRow, ComponentRow.sbom_id == SbomRow.id)
    )
    if sbom_id is not None:
        query = query.where(SbomRow.id == sbom_id)
    out = []
    for f, comp, sbom in session.execute(query.order_by(FindingRow.id)):
        if comp.purl:
            product, kind = comp.purl, "purl"
        elif sbom.serial and sbom.format == "cyclonedx":
            product, kind = (
                f"urn:cdx:{sbom.serial.removeprefix('urn:uuid:')}/{sbom.version or 1}#{comp.ref}",
                "bom-ref",
            )
        elif comp.cpes:
            product, kind = comp.cpes[0], "cpe"
        else:
            product, kind = f"{comp.name} {comp.version or ''}".strip(), "name"
        out.append(
            VexStatement(
                vuln_id=f.vuln_id,
                product=product,
                product_kind=kind,
                state=FindingState(f.state),
                justification=Justification(f.justification) if f.justification else None,
                detail=f.detail,
                response=tuple(f.response or ()),
                action=None,
                source=f"{f.advisory_source}:{f.advisory_id}",
            )
        )
    return out


@dataclass
class VexApplyResult:
    statements: int = 0
    applied: int = 0
    unchanged: int = 0
    unmatched: int = 0


def apply_vex(
    session: Session, statements: Sequence[VexStatement], *, actor: str, origin: str = "vex-import"
) -> VexApplyResult:
    """Set the state of findings that a VEX statement names (by vulnerability and component
    purl, CPE, bom-ref or name)."""
    result = VexApplyResult(statements=len(statements))
    by_vuln: dict[str, list[VexStatement]] = defaultdict(list)
    for s in statements:
        by_vuln[s.vuln_id.upper()].append(s)
    if not by_vuln:
        return result
    rows = session.execute(
        select(FindingRow, ComponentRow)
        .join(ComponentRow, FindingRow.component_id == ComponentRow.id)
        .where(func.upper(FindingRow.vuln_id).in_(list(by_vuln)))
    ).all()
    matched: set[int] = set()
    for finding, comp in rows:
        for i, s in enumerate(by_vuln[finding.vuln_id.upper()]):
            if not _names_component(s, comp):
                continue
            matched.add(id(s))
            if finding.state == s.state.value and finding.justification == (
                s.justification.value if s.justification else None
            ):
                result.unchanged += 1
                continue
            set_state(
                session,
                finding.id,
                s.state,
                actor=actor,
                justification=s.justification,
                detail=s.detail or (None if s.justification else "stated in imported VEX"),
                response=s.response,
                comment=f"from VEX {s.source or ''} statement {i + 1}".strip(),
                origin=origin,
            )
            result.applied += 1
            break
    result.unmatched = sum(1 for s in statements if id(s) not in matched)
    return result


def _names_component(s: VexStatement, comp: ComponentRow) -> bool:
    if s.product_kind == "purl" and comp.purl:
        return _purl_base(s.product) == _purl_base(comp.purl) and (
            "@" not in s.product or "@" not in comp.purl or s.product == comp.purl
        )
    if s.product_kind == "cpe":
        return s.product in (comp.cpes or [])
    if s.product_kind == "bom-ref":
        return s.product == comp.ref or s.product.endswith("#" + comp.ref)
    text = f"{comp.name} {comp.version or ''}".strip().lower()
    return s.product.strip().lower() in (text, comp.name.lower())


def _purl_base(purl: str) -> str:
    return purl.split("?", 1)[0].split("#", 1)[0].split("@", 1)[0]
