"""Vulnerability findings (SBOM components matched to advisories) and their VEX states."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel

from medsentry.api.auth.guard import Principal, require_analyst, require_viewer
from medsentry.api.paging import Window, paged, window
from medsentry.api.routers import API_PREFIX
from medsentry.api.routers.devices import store_of
from medsentry.api.schemas import FindingOut, Note, Page, Text
from medsentry.vuln import findings as vuln_findings
from medsentry.vuln.model import FindingState, Justification

router = APIRouter(prefix=API_PREFIX, tags=["findings"], dependencies=[Depends(require_viewer)])
FindingId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class StateChange(BaseModel):
    """A VEX decision: ``not_affected`` needs a justification or an impact statement."""

    state: FindingState
    justification: Justification | None = None
    detail: Note | None = None
    comment: Note | None = None


class FindingChange(BaseModel):
    at: float
    actor: str
    old_state: str | None
    new_state: str
    justification: str | None
    comment: str | None
    origin: str


@router.get(
    "/findings", response_model=Page[FindingOut], summary="Findings, highest priority first"
)
def list_findings(
    request: Request,
    w: Annotated[Window, Depends(window)],
    state: Annotated[FindingState | None, Query()] = None,
    priority: Annotated[Literal["P1", "P2", "P3", "P4", "P5"] | None, Query()] = None,
    device: Annotated[Text | None, Query(max_length=256, description="Key, MAC or model")] = None,
    sbom_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Page[FindingOut]:
    with store_of(request).session() as session:
        views = vuln_findings.list_findings(
            session,
            device=device,
            priority=priority,
            state=None if state is None else state.value,
            sbom_id=sbom_id,
        )
    window_views = views[w.offset : w.offset + w.limit]
    items = [FindingOut.model_validate(v, from_attributes=True) for v in window_views]
    return paged(items, len(views), w)


@router.post(
    "/findings/{finding_id}/state", response_model=FindingOut, summary="Set a finding's VEX state"
)
def set_finding_state(
    request: Request,
    finding_id: FindingId,
    body: StateChange,
    principal: Annotated[Principal, Depends(require_analyst)],
) -> FindingOut:
    with store_of(request).session() as session:
        vuln_findings.set_state(
            session,
            finding_id,
            body.state,
            actor=principal.username,
            justification=body.justification,
            detail=body.detail,
            comment=body.comment,
            origin="api",
        )
    request.state.audit_detail = {"finding": finding_id, "state": body.state.value}
    request.app.state.ctx.risks.invalidate()
    with store_of(request).session() as session:
        found = [v for v in vuln_findings.list_findings(session) if v.id == finding_id]
    return FindingOut.model_validate(found[0], from_attributes=True)


@router.get(
    "/findings/{finding_id}/history",
    response_model=list[FindingChange],
    summary="Who changed a finding's state, and why",
)
def finding_history(request: Request, finding_id: FindingId) -> list[FindingChange]:
    with store_of(request).session() as session:
        trail = vuln_findings.audit_trail(session, finding_id)
        if not trail:
            raise HTTPException(404, f"no history for finding {finding_id}")
        return [FindingChange.model_validate(t, from_attributes=True) for t in trail]
