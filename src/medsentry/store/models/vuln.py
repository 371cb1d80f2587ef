"""Know tables: SBOMs and components, advisories and what they affect, CVE enrichment
(records, KEV, EPSS), findings and their append-only triage audit trail.

Dates from documents are kept as UTC ISO 8601 strings (they sort as text on every database);
times MedSentry itself records are epoch seconds, like the core tables.

Findings name their advisory by ``(advisory_source, advisory_id)`` rather than a foreign key,
so replacing an advisory with a newer revision never loses the triage state built on it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from medsentry.store.base import Base


class SbomRow(Base):
    __tablename__ = "sboms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    format: Mapped[str] = mapped_column(String(16))
    spec_version: Mapped[str] = mapped_column(String(32))
    serial: Mapped[str | None] = mapped_column(String(512), index=True)
    version: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(512))
    product_version: Mapped[str | None] = mapped_column(String(128))
    # The device this SBOM describes; joined to devices.manufacturer / devices.model.
    manufacturer: Mapped[str | None] = mapped_column(String(256), index=True)
    model: Mapped[str | None] = mapped_column(String(256), index=True)
    timestamp: Mapped[str | None] = mapped_column(String(40))
    source_path: Mapped[str | None] = mapped_column(String(1024))
    imported_at: Mapped[float] = mapped_column(Float)
    component_count: Mapped[int] = mapped_column(Integer, default=0)
    quality: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    components: Mapped[list[ComponentRow]] = relationship(
        back_populates="sbom", cascade="all, delete-orphan", passive_deletes=True
    )


class ComponentRow(Base):
    __tablename__ = "components"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sbom_id: Mapped[int] = mapped_column(ForeignKey("sboms.id", ondelete="CASCADE"), index=True)
    ref: Mapped[str] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(String(512), index=True)
    version: Mapped[str | None] = mapped_column(String(256))
    purl: Mapped[str | None] = mapped_column(String(1024), index=True)
    cpes: Mapped[list[str]] = mapped_column(JSON, default=list)
    supplier: Mapped[str | None] = mapped_column(String(512))
    author: Mapped[str | None] = mapped_column(String(512))
    group: Mapped[str | None] = mapped_column(String(512))
    type: Mapped[str | None] = mapped_column(String(64))
    hashes: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    licenses: Mapped[list[str]] = mapped_column(JSON, default=list)
    support_level: Mapped[str | None] = mapped_column(String(256))
    end_of_support: Mapped[str | None] = mapped_column(String(256))
    depends_on: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_primary: Mapped[bool] = mapped_column(default=False)

    sbom: Mapped[SbomRow] = relationship(back_populates="components")

    __table_args__ = (UniqueConstraint("sbom_id", "ref"),)


class AdvisoryRow(Base):
    __tablename__ = "advisories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    advisory_id: Mapped[str] = mapped_column(String(256))
    title: Mapped[str | None] = mapped_column(String(1024))
    revision: Mapped[str | None] = mapped_column(String(64))
    published: Mapped[str | None] = mapped_column(String(40))
    modified: Mapped[str | None] = mapped_column(String(40), index=True)
    publisher: Mapped[str | None] = mapped_column(String(512))
    category: Mapped[str | None] = mapped_column(String(64))
    cves: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Scores, references, remediations, notes and per-vulnerability details as JSON.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sha256: Mapped[str] = mapped_column(String(64))
    source_path: Mapped[str | None] = mapped_column(String(1024))
    imported_at: Mapped[float] = mapped_column(Float)
    validation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    products: Mapped[list[AffectedProductRow]] = relationship(
        back_populates="advisory", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (UniqueConstraint("source", "advisory_id"),)


class AffectedProductRow(Base):
    __tablename__ = "affected_products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    advisory_pk: Mapped[int] = mapped_column(
        ForeignKey("advisories.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[str] = mapped_column(String(256))
    vendor: Mapped[str | None] = mapped_column(String(512), index=True)
    product: Mapped[str | None] = mapped_column(String(1024))
    version_text: Mapped[str | None] = mapped_column(String(1024))
    purl: Mapped[str | None] = mapped_column(String(1024), index=True)
    cpe: Mapped[str | None] = mapped_column(String(1024))
    vers: Mapped[str | None] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(32))
    cves: Mapped[list[str]] = mapped_column(JSON, default=list)
    full_name: Mapped[str | None] = mapped_column(String(2048))
    remediation: Mapped[str | None] = mapped_column(Text)

    advisory: Mapped[AdvisoryRow] = relationship(back_populates="products")


class CveRow(Base):
    """A CVE record (CVE JSON 5 or NVD) used to enrich findings."""

    __tablename__ = "cves"

    cve_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    state: Mapped[str | None] = mapped_column(String(16))
    assigner: Mapped[str | None] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)
    published: Mapped[str | None] = mapped_column(String(40))
    modified: Mapped[str | None] = mapped_column(String(40))
    cwes: Mapped[list[str]] = mapped_column(JSON, default=list)
    scores: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    imported_at: Mapped[float] = mapped_column(Float)


class KevRow(Base):
    """An entry of CISA's Known Exploited Vulnerabilities catalog."""

    __tablename__ = "kev"

    cve_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vendor_project: Mapped[str | None] = mapped_column(String(256))
    product: Mapped[str | None] = mapped_column(String(256))
    name: Mapped[str | None] = mapped_column(String(512))
    date_added: Mapped[str | None] = mapped_column(String(10))
    due_date: Mapped[str | None] = mapped_column(String(10))
    short_description: Mapped[str | None] = mapped_column(Text)
    required_action: Mapped[str | None] = mapped_column(Text)
    ransomware: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(Text)
    cwes: Mapped[list[str]] = mapped_column(JSON, default=list)
    catalog_version: Mapped[str | None] = mapped_column(String(32))


class EpssRow(Base):
    """FIRST EPSS probability of exploitation in the next 30 days."""

    __tablename__ = "epss"

    cve_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    percentile: Mapped[float] = mapped_column(Float)
    score_date: Mapped[str | None] = mapped_column(String(10))
    model_version: Mapped[str | None] = mapped_column(String(64))


class FindingRow(Base):
    """A component concerned by a vulnerability of an advisory, with its triage state."""

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    component_id: Mapped[int] = mapped_column(
        ForeignKey("components.id", ondelete="CASCADE"), index=True
    )
    advisory_source: Mapped[str] = mapped_column(String(16))
    advisory_id: Mapped[str] = mapped_column(String(256))
    vuln_id: Mapped[str] = mapped_column(String(256), index=True)
    product_id: Mapped[str | None] = mapped_column(String(256))
    method: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(32), index=True)
    justification: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    response: Mapped[list[str]] = mapped_column(JSON, default=list)
    priority: Mapped[str | None] = mapped_column(String(16), index=True)
    priority_score: Mapped[float | None] = mapped_column(Float)
    priority_reason: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)

    component: Mapped[ComponentRow] = relationship()

    __table_args__ = (
        UniqueConstraint("component_id", "advisory_source", "advisory_id", "vuln_id"),
        Index("ix_findings_advisory", "advisory_source", "advisory_id"),
    )


class FindingAuditRow(Base):
    """One change of a finding's state. Append-only: the database refuses updates/deletes.

    ``finding_id`` is deliberately not a foreign key, so the trail outlives the finding;
    ``finding_key`` says in words what the finding was.
    """

    __tablename__ = "finding_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[int] = mapped_column(Integer, index=True)
    finding_key: Mapped[str] = mapped_column(String(1024))
    actor: Mapped[str] = mapped_column(String(256))
    at: Mapped[float] = mapped_column(Float)
    old_state: Mapped[str | None] = mapped_column(String(32))
    new_state: Mapped[str] = mapped_column(String(32))
    justification: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(32))  # cli, api, vex-import, matcher
