"""The vulnerabilities page: findings in priority order with the reasons for their
priority and match, VEX state changes (analyst) and each finding's history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medsentry.api.auth.guard import Principal, require_analyst
from medsentry.api.risk import OPEN_STATES, PRIORITIES
from medsentry.api.web.routes import (
    PAGE_ROWS,
    Viewer,
    can_triage,
    clean,
    ctx_of,
    is_htmx,
    pager,
    render,
)
from medsentry.errors import InputError
from medsentry.store.models.vuln import ComponentRow, FindingRow
from medsentry.vuln import findings as vuln_findings
from medsentry.vuln.findings import FindingView
from medsentry.vuln.model import FindingState, Justification

router = APIRouter(include_in_schema=False)
Analyst = Annotated[Principal, Depends(require_analyst)]
FindingId = Annotated[int, Path(ge=1, le=2**31 - 1)]
STATES = [s.value for s in FindingState]
JUSTIFICATIONS = [j.value for j in Justification]
# The page's state choices: the open ones (the work to do), one state, or all.
STATE_CHOICES = {"open": ",".join(OPEN_STATES), **{s: s for s in STATES}, "all": None}


def _counts(session: Session) -> dict[str, dict[str, int]]:
    """Open findings per priority, and all findings per state."""
    rows = session.execute(
        select(FindingRow.priority, FindingRow.state, func.count()).group_by(
            FindingRow.priority, FindingRow.state
        )
    ).all()
    by_priority = dict.fromkeys(PRIORITIES, 0)
    by_state = dict.fromkeys(STATES, 0)
    for priority, state, n in rows:
        by_state[state] = by_state.get(state, 0) + n
        if state in OPEN_STATES and priority in by_priority:
            by_priority[priority] += n
    return {"priority": by_priority, "state": by_state}


@router.get("/vulnerabilities", response_class=HTMLResponse)
def vulnerabilities_page(
    request: Request,
    principal: Viewer,
    state: Annotated[str, Query(max_length=32)] = "open",
    priority: Annotated[str | None, Query(max_length=4)] = None,
    device: Annotated[str | None, Query(max_length=256)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    shown = state if state in STATE_CHOICES else "open"
    level = priority if priority in PRIORITIES else None
    named = clean(device)
    error = None
    with ctx_of(request).store.session() as session:
        counts = _counts(session)
        try:
            views = vuln_findings.list_findings(
                session, device=named, priority=level, state=STATE_CHOICES[shown]
            )
        except InputError as exc:  # no such device
            views, error = [], str(exc)
    params = {"state": shown, "priority": level, "device": named}
    return render(
        request,
        "vulnerabilities.html",
        principal,
        findings=views[offset : offset + PAGE_ROWS],
        total=len(views),
        counts=counts,
        error=error,
        state=shown,
        state_choices=list(STATE_CHOICES),
        priority=level or "",
        priorities=PRIORITIES,
        device=named or "",
        offset=offset,
        **_row_context(principal),
        **pager("/vulnerabilities", params, offset, len(views)),
    )


def _row_context(principal: Principal) -> dict[str, Any]:
    return {
        "can_triage": can_triage(principal),
        "states": STATES,
        "justifications": JUSTIFICATIONS,
    }


def _view(session: Session, finding_id: int) -> FindingView | None:
    sbom_id = session.scalar(
        select(ComponentRow.sbom_id)
        .join(FindingRow, FindingRow.component_id == ComponentRow.id)
        .where(FindingRow.id == finding_id)
    )
    if sbom_id is None:
        return None
    found = [v for v in vuln_findings.list_findings(session, sbom_id=sbom_id) if v.id == finding_id]
    return found[0] if found else None


@router.post("/findings/{finding_id}/state", response_class=HTMLResponse)
def set_state(
    request: Request,
    finding_id: FindingId,
    principal: Analyst,
    state: Annotated[str, Form(max_length=32)] = "",
    justification: Annotated[str, Form(max_length=64)] = "",
    comment: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    ctx = ctx_of(request)
    error = None
    try:
        with ctx.store.session() as session:
            vuln_findings.set_state(
                session,
                finding_id,
                state,
                actor=principal.username,
                justification=justification or None,
                comment=comment.replace("\x00", "").strip() or None,
                origin="web",
            )
        request.state.audit_action = "finding_state"
        request.state.audit_detail = {"finding": finding_id, "state": state, "via": "web"}
        ctx.risks.invalidate()
    except InputError as exc:
        error = str(exc)
    with ctx.store.session() as session:
        view = _view(session, finding_id)
    if view is None:
        return render(request, "missing.html", principal, status_code=404, what="finding")
    if not is_htmx(request):
        return RedirectResponse("/vulnerabilities", status_code=303)
    return render(
        request, "finding_row.html", principal, f=view, error=error, **_row_context(principal)
    )


@router.get("/findings/{finding_id}/history", response_class=HTMLResponse)
def history(request: Request, finding_id: FindingId, principal: Viewer) -> Response:
    with ctx_of(request).store.session() as session:
        trail = [
            {
                "at": t.at,
                "actor": t.actor,
                "old": t.old_state,
                "new": t.new_state,
                "justification": t.justification,
                "comment": t.comment,
                "origin": t.origin,
            }
            for t in vuln_findings.audit_trail(session, finding_id)
        ]
    return render(request, "finding_history.html", principal, trail=trail)
