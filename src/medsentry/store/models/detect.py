"""Detection tables: alerts (one row per attack episode) and device baselines."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from medsentry.store.base import Base


class AlertRow(Base):
    """An alert; ``alert_id`` is deterministic (category, source, first time), so analysing
    the same capture again updates the row instead of adding one."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(40), unique=True)
    capture_id: Mapped[int | None] = mapped_column(ForeignKey("captures.id", ondelete="SET NULL"))
    ts_start: Mapped[float] = mapped_column(Float, index=True)
    ts_end: Mapped[float] = mapped_column(Float)
    category: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16), index=True)
    confidence: Mapped[float] = mapped_column(Float)
    src: Mapped[str | None] = mapped_column(String(64), index=True)
    dst: Mapped[str | None] = mapped_column(String(72))
    protocol: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(8), default="rule")
    targets: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    devices: Mapped[list[str]] = mapped_column(JSON, default=list)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    mitre: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Triage (detect_0002): open -> acknowledged -> resolved, with who and when.
    status: Mapped[str] = mapped_column(
        String(16), default="open", server_default="open", index=True
    )
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[float | None] = mapped_column(Float)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index("ix_alerts_category_ts", "category", "ts_start"),)


class AlertCommentRow(Base):
    """A note an analyst left on an alert."""

    __tablename__ = "alert_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    ts: Mapped[float] = mapped_column(Float)


class AlertHostRow(Base):
    """An address or name an alert involves (source, targets, devices; ports dropped), so a
    device's alerts are found through an index rather than by reading every alert."""

    __tablename__ = "alert_hosts"

    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    host: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)


class BaselineRow(Base):
    """A device's learned profile (peers, ports, protocols, message types, peak rate)."""

    __tablename__ = "device_baselines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16))
    first_ts: Mapped[float] = mapped_column(Float)
    learned_until: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
