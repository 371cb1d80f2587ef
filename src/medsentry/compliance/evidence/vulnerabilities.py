"""Vulnerability management: known exploited vulnerabilities left open, how fast fixes land,
how much of the backlog has a triage decision."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medsentry.compliance.evaluators import Context, Evidence, NoParams, Status, evaluator
from medsentry.compliance.evidence import by_threshold, percent
from medsentry.store.models.vuln import (
    ComponentRow,
    FindingAuditRow,
    FindingRow,
    KevRow,
    SbomRow,
)

OPEN_STATES = ("affected", "under_investigation")
ACTIONABLE_STATES = ("affected", "under_investigation", "fixed")
DAY = 86_400.0


@dataclass(frozen=True)
class FindingFacts:
    total: int
    by_state: dict[str, int]
    sboms: int


def finding_facts(session: Session) -> FindingFacts:
    by_state = {
        state: int(n)
        for state, n in session.execute(
            select(FindingRow.state, func.count()).group_by(FindingRow.state)
        )
    }
    sboms = int(session.scalar(select(func.count()).select_from(SbomRow)) or 0)
    return FindingFacts(sum(by_state.values()), by_state, sboms)


def _no_data(eid: str, facts: FindingFacts) -> Evidence | None:
    if facts.sboms == 0 and facts.total == 0:
        return Evidence(
            eid,
            Status.NOT_ASSESSED,
            "no SBOMs or findings in the store: import SBOMs and advisories first",
        )
    return None


@evaluator("vulnerabilities.kev_unresolved", NoParams, "No known exploited vulnerability is open")
def kev_unresolved(ctx: Context, _params: NoParams) -> Evidence:
    eid = "vulnerabilities.kev_unresolved"
    facts = finding_facts(ctx.session)
    missing = _no_data(eid, facts)
    if missing:
        return missing
    kev_total = int(ctx.session.scalar(select(func.count()).select_from(KevRow)) or 0)
    rows = ctx.session.execute(
        select(
            FindingRow.vuln_id,
            FindingRow.state,
            ComponentRow.name,
            ComponentRow.version,
            SbomRow.manufacturer,
            SbomRow.model,
            KevRow.due_date,
        )
        .join(KevRow, KevRow.cve_id == FindingRow.vuln_id)
        .join(ComponentRow, ComponentRow.id == FindingRow.component_id)
        .join(SbomRow, SbomRow.id == ComponentRow.sbom_id)
        .order_by(KevRow.due_date, FindingRow.vuln_id)
    ).all()
    open_rows = [r for r in rows if r.state in OPEN_STATES]
    metrics = {"kev_findings": len(rows), "kev_open": len(open_rows), "kev_catalog": kev_total}
    if kev_total == 0:
        return Evidence(
            eid,
            Status.NOT_ASSESSED,
            "the CISA KEV catalog is not imported: import it to check exploited vulnerabilities",
            metrics=metrics,
        )
    if not open_rows:
        return Evidence(
            eid,
            Status.PASS,
            f"no open finding is in the KEV catalog ({len(rows)} KEV findings, all resolved; "
            f"{facts.total} findings in all)",
            metrics=metrics,
        )
    items = [
        f"{r.vuln_id} in {r.name} {r.version or ''} of "
        f"{' '.join(p for p in (r.manufacturer, r.model) if p) or 'an SBOM'} "
        f"({r.state}; CISA due date {r.due_date or 'n/a'})"
        for r in open_rows
    ]
    return Evidence(
        eid,
        Status.FAIL,
        f"{len(open_rows)} known exploited vulnerabilit{'y' if len(open_rows) == 1 else 'ies'} "
        f"open: " + ", ".join(sorted({r.vuln_id for r in open_rows})[:6]),
        items=items,
        metrics=metrics,
    )


class PatchParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fixed_pass: float = Field(0.8, ge=0, le=1, description="share fixed needed to pass")
    fixed_partial: float = Field(0.5, ge=0, le=1)
    median_days_pass: float = Field(30, gt=0, description="median days to fix to pass")
    median_days_partial: float = Field(90, gt=0)


def fix_durations(session: Session) -> list[float]:
    """Days from first seen to the first move to ``fixed``, per fixed finding."""
    fixed_at = dict(
        session.execute(
            select(FindingAuditRow.finding_id, func.min(FindingAuditRow.at))
            .where(FindingAuditRow.new_state == "fixed")
            .group_by(FindingAuditRow.finding_id)
        ).all()
    )
    out = []
    for fid, first_seen, updated_at in session.execute(
        select(FindingRow.id, FindingRow.first_seen, FindingRow.updated_at).where(
            FindingRow.state == "fixed"
        )
    ):
        # Without an audit entry the last update is the best estimate of the fix time.
        end = fixed_at.get(fid, updated_at)
        out.append(max(0.0, (end - first_seen) / DAY))
    return out


@evaluator("vulnerabilities.patch_metrics", PatchParams, "Vulnerabilities get fixed, and fast")
def patch_metrics(ctx: Context, params: PatchParams) -> Evidence:
    eid = "vulnerabilities.patch_metrics"
    facts = finding_facts(ctx.session)
    missing = _no_data(eid, facts)
    if missing:
        return missing
    actionable = sum(facts.by_state.get(s, 0) for s in ACTIONABLE_STATES)
    if actionable == 0:
        return Evidence(
            eid,
            Status.PASS,
            f"no finding needs a fix ({facts.total} findings, none affected)",
            metrics={"findings": facts.total, "actionable": 0},
        )
    fixed = facts.by_state.get("fixed", 0)
    durations = fix_durations(ctx.session)
    median = statistics.median(durations) if durations else None
    share_status = by_threshold(fixed / actionable, params.fixed_pass, params.fixed_partial)
    if median is None:
        speed_status = Status.FAIL
    elif median <= params.median_days_pass:
        speed_status = Status.PASS
    elif median <= params.median_days_partial:
        speed_status = Status.PARTIAL
    else:
        speed_status = Status.FAIL
    order = {Status.PASS: 0, Status.PARTIAL: 1, Status.FAIL: 2}
    status = max(share_status, speed_status, key=order.__getitem__)
    median_text = f"{median:.1f} days" if median is not None else "n/a"
    return Evidence(
        eid,
        status,
        f"{fixed} of {actionable} actionable findings fixed ({percent(fixed, actionable)}%), "
        f"median time to fix {median_text}",
        items=[f"{state}: {n}" for state, n in sorted(facts.by_state.items())],
        metrics={
            "findings": facts.total,
            "actionable": actionable,
            "fixed": fixed,
            "fixed_share": round(fixed / actionable, 3),
            "median_days_to_fix": round(median, 2) if median is not None else None,
            "open": sum(facts.by_state.get(s, 0) for s in OPEN_STATES),
        },
    )


class TriageParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pass_at: float = Field(1.0, ge=0, le=1)
    partial_at: float = Field(0.5, ge=0, le=1)


@evaluator(
    "vulnerabilities.triaged",
    TriageParams,
    "Every finding has a decision (affected, not affected, fixed)",
)
def triaged(ctx: Context, params: TriageParams) -> Evidence:
    eid = "vulnerabilities.triaged"
    facts = finding_facts(ctx.session)
    missing = _no_data(eid, facts)
    if missing:
        return missing
    if facts.total == 0:
        return Evidence(eid, Status.PASS, "no findings to triage", metrics={"findings": 0})
    pending = facts.by_state.get("under_investigation", 0)
    decided = facts.total - pending
    return Evidence(
        eid,
        by_threshold(decided / facts.total, params.pass_at, params.partial_at),
        f"{decided} of {facts.total} findings have a decision "
        f"({percent(decided, facts.total)}%); {pending} under investigation",
        metrics={"findings": facts.total, "decided": decided, "pending": pending},
    )
