"""Compliance pages: status per profile (hospital, manufacturer), each profile's controls
with their evidence, assessment history and attestations; analysts run assessments and
attest what no data can show."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from medsentry.api.auth.guard import Principal, require_analyst
from medsentry.api.web.routes import Viewer, can_triage, ctx_of, render
from medsentry.compliance import attestations, status
from medsentry.compliance.catalogue import PROFILES, find_control, load_profile
from medsentry.errors import ConfigError, InputError

router = APIRouter(include_in_schema=False)
Analyst = Annotated[Principal, Depends(require_analyst)]
ProfilePath = Annotated[Literal["hospital", "manufacturer"], Path()]
STATUS_ORDER = ("fail", "partial", "not_assessed", "pass", "not_applicable")
RECENT_ATTESTATIONS = 20


@router.get("/compliance", response_class=HTMLResponse)
def compliance_page(request: Request, principal: Viewer) -> Response:
    with ctx_of(request).store.session() as session:
        found = status.compliance_status(session)
    profiles = [(p, found.get(p), load_profile(p)) for p in PROFILES]
    return render(
        request,
        "compliance.html",
        principal,
        profiles=profiles,
        statuses=STATUS_ORDER,
        can_triage=can_triage(principal),
    )


def _by_catalogue(results: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        grouped.setdefault(result["catalogue"], []).append(result)
    return grouped


@router.get("/compliance/{profile}", response_class=HTMLResponse)
def profile_page(
    request: Request,
    profile: ProfilePath,
    principal: Viewer,
    attested: str | None = None,
) -> Response:
    with ctx_of(request).store.session() as session:
        latest = status.latest_assessment(session, profile)
        past = status.assessment_history(session, profile, limit=20)
        trail = attestations.history(session)
    controls = {c.id for cat in load_profile(profile) for c in cat.controls}
    titles = {cat.id: cat.title for cat in load_profile(profile)}
    mine = [a for a in trail if a.control_id in controls][-RECENT_ATTESTATIONS:][::-1]
    return render(
        request,
        "compliance_profile.html",
        principal,
        profile=profile,
        latest=latest,
        groups=_by_catalogue(latest["results"]) if latest else {},
        titles=titles,
        history=past,
        attestations=mine,
        attested=attested if attested in controls else None,
        statuses=STATUS_ORDER,
        answers=(*attestations.ANSWERS, attestations.WITHDRAWN),
        can_triage=can_triage(principal),
    )


@router.post("/compliance/{profile}/assess")
def assess(request: Request, profile: ProfilePath, principal: Analyst) -> Response:
    with ctx_of(request).store.session() as session:
        done = status.run_assessment(session, profile, actor=principal.username)
    request.state.audit_action = "compliance_assess"
    request.state.audit_detail = {"profile": profile, "assessment": done.id, "via": "web"}
    return RedirectResponse(f"/compliance/{profile}", status_code=303)


@router.post("/compliance/{profile}/attest", response_class=HTMLResponse)
def attest(
    request: Request,
    profile: ProfilePath,
    principal: Analyst,
    control_id: Annotated[str, Form(max_length=128)] = "",
    answer: Annotated[str, Form(max_length=32)] = "",
    comment: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    try:
        owner, _, _ = find_control(control_id)
        if owner != profile:
            raise InputError(f"control {control_id} belongs to the {owner} profile")
        with ctx_of(request).store.session() as session:
            attestations.attest(
                session, control_id, answer, comment.replace("\x00", ""), principal.username
            )
    except (InputError, ConfigError) as exc:
        return render(
            request,
            "missing.html" if isinstance(exc, ConfigError) else "attest_error.html",
            principal,
            status_code=404 if isinstance(exc, ConfigError) else 400,
            what="control",
            error=str(exc),
            profile=profile,
        )
    request.state.audit_action = "attest"
    request.state.audit_detail = {"control": control_id, "answer": answer, "via": "web"}
    return RedirectResponse(
        f"/compliance/{profile}?attested={control_id}#control-{control_id}", status_code=303
    )
