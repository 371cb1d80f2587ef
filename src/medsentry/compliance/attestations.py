"""Attestations: what no data can show is answered by a person, with a comment, optionally a
document, who and when. Nothing is ever edited or deleted (the database refuses it): a newer
attestation supersedes an older one, ``withdrawn`` retracts one, and each row carries the
digest of the previous row so the trail can be checked end to end.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from medsentry.compliance.catalogue import find_control
from medsentry.compliance.evaluators import AttestationView
from medsentry.errors import InputError
from medsentry.store.models.compliance import AttestationRow, DocumentRow

ANSWERS = ("pass", "partial", "fail", "not_applicable")
WITHDRAWN = "withdrawn"
MAX_DOCUMENT_BYTES = 25 * 1024 * 1024
DAY = 86_400.0
# Kinds of documents the catalogues and the FDA package know about.
DOCUMENT_KINDS = (
    "policy",
    "procedure",
    "risk_assessment",
    "threat_model",
    "security_architecture",
    "test_report",
    "fuzz_test_report",
    "penetration_test_report",
    "binary_analysis",
    "labeling",
    "vulnerability_management_plan",
    "cvd_policy",
    "incident_response_plan",
    "training_record",
    "inventory_export",
    "sbom",
    "vex",
    "unresolved_anomalies",
    "contract",
    "other",
)


@dataclass(frozen=True)
class AttestationRecord:
    id: int
    control_id: str
    answer: str
    comment: str
    actor: str
    at: float
    valid_until: float | None
    document_id: int | None
    document_name: str | None
    digest: str


def _digest(values: dict[str, object], prev: str | None) -> str:
    payload = json.dumps({**values, "prev": prev}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def attach_document(
    session: Session,
    path: Path,
    *,
    kind: str,
    actor: str,
    name: str | None = None,
    now: float | None = None,
) -> DocumentRow:
    """Keep a copy of a file as evidence; the same file of the same kind is stored once."""
    if kind not in DOCUMENT_KINDS:
        raise InputError(f"unknown document kind {kind!r}: use one of {', '.join(DOCUMENT_KINDS)}")
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise InputError(
                f"{path}: {size} bytes is over the {MAX_DOCUMENT_BYTES // 2**20} MiB limit; "
                "attach a summary or a link in the comment instead"
            )
        content = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the document ({exc.strerror})") from exc
    sha = hashlib.sha256(content).hexdigest()
    held = session.scalar(
        select(DocumentRow).where(DocumentRow.sha256 == sha, DocumentRow.kind == kind)
    )
    if held is not None:
        return held
    row = DocumentRow(
        kind=kind,
        name=(name or path.name)[:512],
        media_type=mimetypes.guess_type(path.name)[0],
        sha256=sha,
        size=len(content),
        content=content,
        actor=actor[:256],
        at=now if now is not None else time.time(),
    )
    session.add(row)
    session.flush()
    return row


def attest(
    session: Session,
    control_id: str,
    answer: str,
    comment: str,
    actor: str,
    *,
    document: DocumentRow | None = None,
    valid_days: float | None = None,
    now: float | None = None,
) -> AttestationRow:
    """Record a person's answer for a control (``withdrawn`` retracts the current one)."""
    find_control(control_id)  # raises with a helpful message for an unknown id
    if answer not in (*ANSWERS, WITHDRAWN):
        raise InputError(f"answer must be one of {', '.join((*ANSWERS, WITHDRAWN))}")
    if not comment.strip():
        raise InputError("an attestation needs a comment saying what backs it")
    if not actor.strip():
        raise InputError("an attestation needs the name of the person making it")
    # Floats, as the database returns them, so the digest can be recomputed from a row.
    at = float(now if now is not None else time.time())
    prev = session.scalar(select(AttestationRow.digest).order_by(AttestationRow.id.desc()))
    values: dict[str, object] = {
        "control_id": control_id,
        "answer": answer,
        "comment": comment.strip(),
        "actor": actor.strip()[:256],
        "at": at,
        "valid_until": float(at + valid_days * DAY) if valid_days else None,
        "document_id": document.id if document is not None else None,
    }
    row = AttestationRow(**values, prev_digest=prev, digest=_digest(values, prev))
    session.add(row)
    session.flush()
    return row


def _records(session: Session, control_id: str | None) -> list[AttestationRecord]:
    stmt = (
        select(AttestationRow, DocumentRow.name)
        .outerjoin(DocumentRow, DocumentRow.id == AttestationRow.document_id)
        .order_by(AttestationRow.id)
    )
    if control_id is not None:
        stmt = stmt.where(AttestationRow.control_id == control_id)
    return [
        AttestationRecord(
            id=row.id,
            control_id=row.control_id,
            answer=row.answer,
            comment=row.comment,
            actor=row.actor,
            at=row.at,
            valid_until=row.valid_until,
            document_id=row.document_id,
            document_name=name,
            digest=row.digest,
        )
        for row, name in session.execute(stmt)
    ]


def history(session: Session, control_id: str | None = None) -> list[AttestationRecord]:
    """The audit trail, oldest first."""
    return _records(session, control_id)


def effective_attestations(
    session: Session, now: float | None = None
) -> dict[str, AttestationView]:
    """The attestation in force for each control: the newest, unless withdrawn or expired."""
    # Floats, as the database returns them, so the digest can be recomputed from a row.
    at = float(now if now is not None else time.time())
    latest: dict[str, AttestationRecord] = {}
    for record in _records(session, None):
        latest[record.control_id] = record
    out = {}
    for control_id, record in latest.items():
        if record.answer == WITHDRAWN:
            continue
        if record.valid_until is not None and record.valid_until < at:
            continue
        out[control_id] = AttestationView(
            id=record.id,
            answer=record.answer,
            comment=record.comment,
            actor=record.actor,
            at=record.at,
            document=record.document_name,
        )
    return out


def verify_chain(session: Session) -> list[str]:
    """Problems in the attestation trail (an empty list means it is intact)."""
    problems = []
    prev: str | None = None
    for row in session.scalars(select(AttestationRow).order_by(AttestationRow.id)):
        values: dict[str, object] = {
            "control_id": row.control_id,
            "answer": row.answer,
            "comment": row.comment,
            "actor": row.actor,
            "at": row.at,
            "valid_until": row.valid_until,
            "document_id": row.document_id,
        }
        if row.prev_digest != prev:
            problems.append(f"attestation {row.id}: does not follow the previous entry")
        if row.digest != _digest(values, row.prev_digest):
            problems.append(f"attestation {row.id}: content does not match its digest")
        prev = row.digest
    return problems


def documents(session: Session, kind: str | None = None) -> list[DocumentRow]:
    stmt = select(DocumentRow).order_by(DocumentRow.id)
    if kind is not None:
        stmt = stmt.where(DocumentRow.kind == kind)
    return list(session.scalars(stmt))
