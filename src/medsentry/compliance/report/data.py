"""Everything a report shows, gathered from the store in one pass.

The report holds device labels, counts and statuses only: protocol events never carry
patient data, and nothing here reads payloads.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medsentry import __version__
from medsentry.compliance.attestations import history
from medsentry.compliance.catalogue import Catalogue, load_profile, load_risks, profile_specs
from medsentry.compliance.evaluators import Assessment, Context, ControlResult, Status, assess
from medsentry.compliance.evidence.vulnerabilities import fix_durations
from medsentry.compliance.mds2.diff import FormDiff, diff_form
from medsentry.compliance.mds2.repository import list_forms
from medsentry.compliance.readiness import latest_readiness
from medsentry.compliance.recalls import RecallFinding, recall_findings
from medsentry.store.models.vuln import (
    ComponentRow,
    EpssRow,
    FindingRow,
    KevRow,
    SbomRow,
)

MAX_ROWS = 200  # table rows per section; the package files hold everything


@dataclass
class VulnRow:
    vuln_id: str
    component: str
    version: str | None
    product: str
    state: str
    justification: str | None
    priority: str | None
    kev: bool
    kev_due: str | None
    epss: float | None
    detail: str | None


@dataclass
class ReportData:
    profile: str
    profile_title: str
    organisation: str
    generated_at: float
    version: str
    assessment: Assessment
    catalogues: list[Catalogue]
    devices_by_type: dict[str, int]
    device_count: int
    vulnerabilities: list[VulnRow]
    findings_by_state: dict[str, int]
    metrics: dict[str, Any]
    sboms: list[dict[str, Any]]
    recalls: list[RecallFinding]
    mds2: list[FormDiff]
    readiness: dict[str, Any] | None
    attestations: list[dict[str, Any]]
    traceability: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failing(self) -> list[ControlResult]:
        return [r for r in self.assessment.results if r.status is Status.FAIL]

    @property
    def top_findings(self) -> list[str]:
        """The few lines an executive must read first."""
        lines = []
        seen: set[str] = set()
        for r in self.failing:
            for e in r.evidence:
                if e.status is Status.FAIL and e.summary not in seen:
                    seen.add(e.summary)
                    lines.append(e.summary)
        return lines[:6]


def _vulnerabilities(session: Session) -> list[VulnRow]:
    kev = {cve: due for cve, due in session.execute(select(KevRow.cve_id, KevRow.due_date)).all()}
    rows = session.execute(
        select(
            FindingRow.vuln_id,
            FindingRow.state,
            FindingRow.justification,
            FindingRow.priority,
            FindingRow.detail,
            ComponentRow.name,
            ComponentRow.version,
            SbomRow.manufacturer,
            SbomRow.model,
            SbomRow.name,
            EpssRow.score,
        )
        .join(ComponentRow, ComponentRow.id == FindingRow.component_id)
        .join(SbomRow, SbomRow.id == ComponentRow.sbom_id)
        .outerjoin(EpssRow, EpssRow.cve_id == FindingRow.vuln_id)
        .order_by(FindingRow.priority_score.desc().nulls_last(), FindingRow.vuln_id)
    ).all()
    out = []
    for r in rows:
        product = " ".join(p for p in (r[7], r[8] or r[9]) if p) or "product"
        out.append(
            VulnRow(
                vuln_id=r[0],
                component=r[5],
                version=r[6],
                product=product,
                state=r[1],
                justification=r[2],
                priority=r[3],
                kev=r[0] in kev,
                kev_due=kev.get(r[0]),
                epss=r[10],
                detail=r[4],
            )
        )
    # Known exploited first: they are the ones regulators and attackers look at.
    out.sort(key=lambda v: (not v.kev, v.state not in ("affected", "under_investigation")))
    return out


def _metrics(session: Session, findings: dict[str, int]) -> dict[str, Any]:
    durations = sorted(fix_durations(session))
    actionable = sum(findings.get(s, 0) for s in ("affected", "under_investigation", "fixed"))
    fixed = findings.get("fixed", 0)
    median = None
    if durations:
        mid = len(durations) // 2
        median = durations[mid] if len(durations) % 2 else (durations[mid - 1] + durations[mid]) / 2
    return {
        "findings": sum(findings.values()),
        "actionable": actionable,
        "fixed": fixed,
        "fixed_percent": round(100.0 * fixed / actionable, 1) if actionable else None,
        "median_days_to_fix": round(median, 1) if median is not None else None,
        "open": findings.get("affected", 0) + findings.get("under_investigation", 0),
        "decided_percent": round(
            100.0
            * (sum(findings.values()) - findings.get("under_investigation", 0))
            / sum(findings.values()),
            1,
        )
        if findings
        else None,
    }


def _sboms(session: Session) -> list[dict[str, Any]]:
    out = []
    for row in session.scalars(select(SbomRow).order_by(SbomRow.id)):
        quality = row.quality or {}
        out.append(
            {
                "id": row.id,
                "name": " ".join(p for p in (row.manufacturer, row.model or row.name) if p)
                or row.name
                or f"SBOM {row.id}",
                "version": row.product_version,
                "format": f"{row.format} {row.spec_version}",
                "components": row.component_count,
                "ntia": quality.get("ntia_conformant"),
                "timestamp": row.timestamp,
            }
        )
    return out


def _traceability(assessment: Assessment) -> list[dict[str, Any]]:
    """Risks (rows) against the controls that mitigate them, with each control's status."""
    register = load_risks()
    out = []
    for risk in register.risks:
        controls = [
            {
                "id": r.control.id,
                "title": r.control.title,
                "reference": r.control.reference,
                "status": r.status.value,
                "evidence": "; ".join(e.summary for e in r.evidence)[:300],
            }
            for r in assessment.results
            if risk.id in r.control.risks
        ]
        statuses = Counter(c["status"] for c in controls)
        out.append(
            {
                "risk": risk.id,
                "title": risk.title,
                "harm": risk.harm,
                "controls": controls,
                "covered": statuses.get("pass", 0),
                "gaps": statuses.get("fail", 0),
            }
        )
    return out


def gather(
    session: Session,
    profile: str,
    *,
    organisation: str = "",
    now: float | None = None,
    assessment: Assessment | None = None,
) -> ReportData:
    at = now if now is not None else time.time()
    result = assessment or assess(session, profile, now=at)
    ctx = Context(session, now=at)
    obs = ctx.observations
    by_type = Counter(d.type for d in obs.devices)
    findings = {
        state: int(n)
        for state, n in session.execute(
            select(FindingRow.state, func.count()).group_by(FindingRow.state)
        )
    }
    diffs = [diff_form(session, f.id, obs) for f in list_forms(session)]
    trail = [
        {
            "control": a.control_id,
            "answer": a.answer,
            "comment": a.comment,
            "actor": a.actor,
            "at": a.at,
            "document": a.document_name,
        }
        for a in history(session)
    ]
    return ReportData(
        profile=profile,
        profile_title=profile_specs()[profile].title,
        organisation=organisation,
        generated_at=at,
        version=__version__,
        assessment=result,
        catalogues=list(load_profile(profile)),
        devices_by_type=dict(by_type.most_common()),
        device_count=len(obs.devices),
        vulnerabilities=_vulnerabilities(session),
        findings_by_state=findings,
        metrics=_metrics(session, findings),
        sboms=_sboms(session),
        recalls=recall_findings(session),
        mds2=[d for d in diffs if d.devices],
        readiness=latest_readiness(session, profile),
        attestations=trail,
        traceability=_traceability(result),
    )
