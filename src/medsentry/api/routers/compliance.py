"""Compliance: status per profile, the latest assessment and its history, running an
assessment, and attestations (a person's answer where no data can show a control)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field, StringConstraints

from medsentry.api.auth.guard import Principal, require_analyst, require_viewer
from medsentry.api.routers import API_PREFIX
from medsentry.api.routers.devices import store_of
from medsentry.compliance import attestations, status
from medsentry.compliance.catalogue import PROFILES, find_control
from medsentry.errors import ConfigError

router = APIRouter(prefix=API_PREFIX, tags=["compliance"], dependencies=[Depends(require_viewer)])

ProfileName = Literal["hospital", "manufacturer"]
ProfilePath = Annotated[ProfileName, Path(description="hospital or manufacturer")]
ControlId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[a-z0-9][a-z0-9._-]*$")
]
Answer = Literal["pass", "partial", "fail", "not_applicable", "withdrawn"]


class ProfileStatus(BaseModel):
    """The newest kept assessment of a profile, in brief (None fields: never assessed)."""

    profile: ProfileName
    assessment_id: int | None
    at: float | None
    actor: str | None
    score: float | None = Field(description="Share of applicable controls met, 0 to 100")
    controls: int | None
    counts: dict[str, int]
    catalogues: dict[str, Any]


class ControlResult(BaseModel):
    catalogue: str
    control: str
    title: str
    reference: str | None
    regulatory_status: str | None
    status: str
    summary: str
    evidence: list[dict[str, Any]]
    attestation_id: int | None


class AssessmentOut(BaseModel):
    id: int
    profile: ProfileName
    at: float
    actor: str
    catalogues: dict[str, str]
    summary: dict[str, Any]
    results: list[ControlResult]


class AssessmentBrief(BaseModel):
    id: int
    at: float
    actor: str
    score: float | None
    counts: dict[str, int]


class AttestationIn(BaseModel):
    control_id: ControlId
    answer: Answer
    comment: Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=r"^[^\x00]*$")]
    valid_days: Annotated[float, Field(gt=0, le=3650, allow_inf_nan=False)] | None = None


class AttestationOut(BaseModel):
    id: int
    control_id: str
    answer: str
    comment: str
    actor: str
    at: float
    valid_until: float | None
    document_name: str | None


def profile_status(profile: str, summary: dict[str, Any] | None) -> ProfileStatus:
    held = summary or {}
    return ProfileStatus(
        profile=profile,  # type: ignore[arg-type]
        assessment_id=held.get("assessment_id"),
        at=held.get("at"),
        actor=held.get("actor"),
        score=held.get("score"),
        controls=held.get("controls"),
        counts=dict(held.get("counts") or {}),
        catalogues=dict(held.get("catalogues") or {}),
    )


@router.get("/compliance", response_model=list[ProfileStatus], summary="Status per profile")
def compliance_status(request: Request) -> list[ProfileStatus]:
    with store_of(request).session() as session:
        found = status.compliance_status(session)
    return [profile_status(p, found.get(p)) for p in PROFILES]


@router.get(
    "/compliance/{profile}",
    response_model=AssessmentOut,
    responses={404: {"description": "The profile was never assessed"}},
    summary="The latest assessment of a profile, every control with its evidence",
)
def latest(request: Request, profile: ProfilePath) -> AssessmentOut:
    with store_of(request).session() as session:
        found = status.latest_assessment(session, profile)
    if found is None:
        raise HTTPException(404, f"the {profile} profile was never assessed; run an assessment")
    return AssessmentOut.model_validate(found)


@router.get(
    "/compliance/{profile}/history",
    response_model=list[AssessmentBrief],
    summary="Kept assessments of a profile, newest first",
)
def history(
    request: Request,
    profile: ProfilePath,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[AssessmentBrief]:
    with store_of(request).session() as session:
        rows = status.assessment_history(session, profile, limit)
    return [
        AssessmentBrief(
            id=r["id"],
            at=r["at"],
            actor=r["actor"],
            score=r.get("score"),
            counts=dict(r.get("counts") or {}),
        )
        for r in rows
    ]


@router.post(
    "/compliance/{profile}/assess",
    response_model=AssessmentOut,
    status_code=201,
    summary="Assess a profile now against the store and keep the result",
)
def assess(
    request: Request,
    profile: ProfilePath,
    principal: Annotated[Principal, Depends(require_analyst)],
) -> AssessmentOut:
    store = store_of(request)
    with store.session() as session:
        done = status.run_assessment(session, profile, actor=principal.username)
    with store.session() as session:
        found = status.latest_assessment(session, profile)
    request.state.audit_action = "compliance_assess"
    request.state.audit_detail = {"profile": profile, "assessment": done.id}
    return AssessmentOut.model_validate(found)


def attestation_out(record: attestations.AttestationRecord) -> AttestationOut:
    return AttestationOut.model_validate(record, from_attributes=True)


@router.get(
    "/attestations",
    response_model=list[AttestationOut],
    summary="The attestation trail, oldest first",
)
def attestation_trail(
    request: Request,
    control: Annotated[ControlId | None, Query(description="Only this control")] = None,
) -> list[AttestationOut]:
    with store_of(request).session() as session:
        return [attestation_out(r) for r in attestations.history(session, control)]


@router.post(
    "/attestations",
    response_model=AttestationOut,
    status_code=201,
    responses={404: {"description": "No such control"}},
    summary="Attest a control (withdrawn retracts the one in force)",
)
def attest(
    request: Request,
    body: AttestationIn,
    principal: Annotated[Principal, Depends(require_analyst)],
) -> AttestationOut:
    try:
        find_control(body.control_id)
    except ConfigError as exc:
        raise HTTPException(404, str(exc)) from None
    with store_of(request).session() as session:
        row = attestations.attest(
            session,
            body.control_id,
            body.answer,
            body.comment,
            principal.username,
            valid_days=body.valid_days,
        )
        record_id = row.id
    with store_of(request).session() as session:
        (record,) = [r for r in attestations.history(session, body.control_id) if r.id == record_id]
    request.state.audit_action = "attest"
    request.state.audit_detail = {"control": body.control_id, "answer": body.answer}
    return attestation_out(record)
