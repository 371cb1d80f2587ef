"""Saving assessments and reading compliance status: the functions the CLI, the API and the
dashboard call.

``run_assessment`` evaluates a profile and keeps the result; ``latest_assessment`` and
``compliance_status`` read what was kept, so a page can show status per profile without
re-running every evaluator.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from medsentry.compliance.catalogue import PROFILES, load_profile
from medsentry.compliance.evaluators import Assessment, assess
from medsentry.errors import InputError
from medsentry.store.models.compliance import AssessmentRow, ControlResultRow


def save_assessment(session: Session, assessment: Assessment, actor: str) -> int:
    row = AssessmentRow(
        profile=assessment.profile,
        at=assessment.at,
        actor=actor[:256],
        catalogues={c.id: c.version for c in load_profile(assessment.profile)},
        summary=assessment.summary(),
    )
    session.add(row)
    session.flush()
    session.execute(
        insert(ControlResultRow),
        [
            {
                "assessment_id": row.id,
                "catalogue_id": r.catalogue.id,
                "control_id": r.control.id,
                "status": r.status.value,
                "summary": r.summary,
                "evidence": [e.to_json() for e in r.evidence],
                "attestation_id": r.attestation.id if r.attestation else None,
            }
            for r in assessment.results
        ],
    )
    assessment.id = row.id
    return row.id


def run_assessment(
    session: Session, profile: str, actor: str = "medsentry", now: float | None = None
) -> Assessment:
    """Evaluate ``profile`` now and keep the result."""
    assessment = assess(session, profile, now=now if now is not None else time.time())
    save_assessment(session, assessment, actor)
    return assessment


def _check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise InputError(f"unknown profile {profile!r}: use one of {', '.join(PROFILES)}")


def latest_assessment(session: Session, profile: str) -> dict[str, Any] | None:
    """The newest kept assessment of a profile with every control's result, or None."""
    _check_profile(profile)
    row = session.scalar(
        select(AssessmentRow)
        .where(AssessmentRow.profile == profile)
        .order_by(AssessmentRow.at.desc(), AssessmentRow.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    controls = {c.id: (cat, c) for cat in load_profile(profile) for c in cat.controls}
    results = []
    for r in session.scalars(
        select(ControlResultRow)
        .where(ControlResultRow.assessment_id == row.id)
        .order_by(ControlResultRow.id)
    ):
        _, control = controls.get(r.control_id, (None, None))
        results.append(
            {
                "catalogue": r.catalogue_id,
                "control": r.control_id,
                "title": control.title if control else r.control_id,
                "reference": control.reference if control else None,
                "regulatory_status": control.status if control else None,
                "status": r.status,
                "summary": r.summary,
                "evidence": r.evidence,
                "attestation_id": r.attestation_id,
            }
        )
    return {
        "id": row.id,
        "profile": row.profile,
        "at": row.at,
        "actor": row.actor,
        "catalogues": row.catalogues,
        "summary": row.summary,
        "results": results,
    }


def compliance_status(session: Session) -> dict[str, dict[str, Any] | None]:
    """Per profile: the summary of the newest kept assessment (counts, score, when)."""
    out: dict[str, dict[str, Any] | None] = {}
    for profile in PROFILES:
        row = session.scalar(
            select(AssessmentRow)
            .where(AssessmentRow.profile == profile)
            .order_by(AssessmentRow.at.desc(), AssessmentRow.id.desc())
            .limit(1)
        )
        out[profile] = (
            None
            if row is None
            else {"assessment_id": row.id, "at": row.at, "actor": row.actor, **row.summary}
        )
    return out


def assessment_history(session: Session, profile: str, limit: int = 50) -> list[dict[str, Any]]:
    """Kept assessments of a profile, newest first: id, when, who, counts, score."""
    _check_profile(profile)
    rows = session.scalars(
        select(AssessmentRow)
        .where(AssessmentRow.profile == profile)
        .order_by(AssessmentRow.at.desc(), AssessmentRow.id.desc())
        .limit(limit)
    )
    return [{"id": r.id, "at": r.at, "actor": r.actor, **(r.summary or {})} for r in rows]
