"""Prove tables: assessments and their per-control results, attestations and the documents
attached to them, MDS2 forms and answers, openFDA recalls and the devices they concern,
readiness self-assessments.

Attestations and documents are evidence a person vouches for: the database refuses to change
or delete them (see the migration), and each attestation carries the digest of the one
before it, so a gap or an edit in the chain shows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from medsentry.store.base import Base


class AssessmentRow(Base):
    """One run of the evaluators over the store for a profile (hospital, manufacturer)."""

    __tablename__ = "compliance_assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[float] = mapped_column(Float, index=True)
    actor: Mapped[str] = mapped_column(String(256))
    catalogues: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # id -> version
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    results: Mapped[list[ControlResultRow]] = relationship(
        back_populates="assessment", cascade="all, delete-orphan", passive_deletes=True
    )


class ControlResultRow(Base):
    __tablename__ = "compliance_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assessment_id: Mapped[int] = mapped_column(
        ForeignKey("compliance_assessments.id", ondelete="CASCADE"), index=True
    )
    catalogue_id: Mapped[str] = mapped_column(String(64))
    control_id: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    attestation_id: Mapped[int | None] = mapped_column(Integer)

    assessment: Mapped[AssessmentRow] = relationship(back_populates="results")


class DocumentRow(Base):
    """A file a person attached as evidence (policy, test report, VEX, threat model...)."""

    __tablename__ = "compliance_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(512))
    media_type: Mapped[str | None] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    actor: Mapped[str] = mapped_column(String(256))
    at: Mapped[float] = mapped_column(Float)


class AttestationRow(Base):
    """A person's answer for a control. Append-only: a newer row supersedes an older one."""

    __tablename__ = "compliance_attestations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    control_id: Mapped[str] = mapped_column(String(128), index=True)
    answer: Mapped[str] = mapped_column(
        String(16)
    )  # pass, partial, fail, not_applicable, withdrawn
    comment: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(256))
    at: Mapped[float] = mapped_column(Float)
    valid_until: Mapped[float | None] = mapped_column(Float)
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("compliance_documents.id", ondelete="RESTRICT")
    )
    prev_digest: Mapped[str | None] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64), unique=True)


class Mds2FormRow(Base):
    """One imported MDS2 form (HN 1-2013 or HN 1-2019) for one or more device models."""

    __tablename__ = "mds2_forms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    form_version: Mapped[str] = mapped_column(String(16))
    manufacturer: Mapped[str | None] = mapped_column(String(256), index=True)
    device_description: Mapped[str | None] = mapped_column(String(1024))
    models: Mapped[list[str]] = mapped_column(JSON, default=list)
    document_id: Mapped[str | None] = mapped_column(String(256))
    release_date: Mapped[str | None] = mapped_column(String(40))
    source_path: Mapped[str | None] = mapped_column(String(1024))
    imported_at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(256))
    # Ids rewritten on import (e.g. SHAD-15 -> SAHD-15) and rows that could not be read.
    issues: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    answers: Mapped[list[Mds2AnswerRow]] = relationship(
        back_populates="form", cascade="all, delete-orphan", passive_deletes=True
    )
    links: Mapped[list[Mds2DeviceLinkRow]] = relationship(
        back_populates="form", cascade="all, delete-orphan", passive_deletes=True
    )


class Mds2AnswerRow(Base):
    __tablename__ = "mds2_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    form_id: Mapped[int] = mapped_column(
        ForeignKey("mds2_forms.id", ondelete="CASCADE"), index=True
    )
    question_id: Mapped[str] = mapped_column(String(32))
    raw_id: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(16))  # yes, no, n/a, see_note, blank, text
    text: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)

    form: Mapped[Mds2FormRow] = relationship(back_populates="answers")

    __table_args__ = (UniqueConstraint("form_id", "question_id"),)


class Mds2DeviceLinkRow(Base):
    """An explicit "this device is of the model this form describes" binding."""

    __tablename__ = "mds2_device_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    form_id: Mapped[int] = mapped_column(
        ForeignKey("mds2_forms.id", ondelete="CASCADE"), index=True
    )
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))

    form: Mapped[Mds2FormRow] = relationship(back_populates="links")

    __table_args__ = (UniqueConstraint("form_id", "device_id"),)


class RecallRow(Base):
    """An openFDA device recall or enforcement report record (one product of a recall)."""

    __tablename__ = "recalls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # recall, enforcement
    recall_number: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(64))
    recalling_firm: Mapped[str | None] = mapped_column(String(512), index=True)
    product_code: Mapped[str | None] = mapped_column(String(8), index=True)
    device_name: Mapped[str | None] = mapped_column(String(512))
    product_description: Mapped[str | None] = mapped_column(Text)
    code_info: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    classification: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(64))
    initiated: Mapped[str | None] = mapped_column(String(10))
    k_numbers: Mapped[list[str]] = mapped_column(JSON, default=list)
    sha256: Mapped[str] = mapped_column(String(64))
    source_path: Mapped[str | None] = mapped_column(String(1024))
    imported_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (UniqueConstraint("source", "recall_number"),)


class RecallFindingRow(Base):
    """A recall that concerns an inventory device, with how sure the match is."""

    __tablename__ = "recall_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recall_pk: Mapped[int] = mapped_column(ForeignKey("recalls.id", ondelete="CASCADE"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="open")
    first_seen: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)

    recall: Mapped[RecallRow] = relationship()

    __table_args__ = (UniqueConstraint("recall_pk", "device_id"),)


class ReadinessRow(Base):
    """One readiness self-assessment: the answers, the scores and the roadmap derived."""

    __tablename__ = "readiness_assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile: Mapped[str] = mapped_column(String(32))
    at: Mapped[float] = mapped_column(Float, index=True)
    actor: Mapped[str] = mapped_column(String(256))
    questionnaire_version: Mapped[str] = mapped_column(String(32))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    level: Mapped[int] = mapped_column(Integer)
    roadmap: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
