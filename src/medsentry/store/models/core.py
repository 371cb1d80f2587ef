"""Core tables: analysis runs, flows, devices and what the inventory knows of them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from medsentry.store.base import Base


class CaptureRun(Base):
    """One analysed capture file (or live session), identified by its content hash."""

    __tablename__ = "captures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(String(1024))
    packets: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    first_ts: Mapped[float | None] = mapped_column(Float)
    last_ts: Mapped[float | None] = mapped_column(Float)
    analysed_at: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(32), default="complete")
    error: Mapped[str | None] = mapped_column(String(1024))


class Flow(Base):
    """A connection with Zeek conn.log fields; ``uid`` is deterministic, so re-analysis
    of the same capture finds the rows it already wrote."""

    __tablename__ = "flows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    capture_id: Mapped[int | None] = mapped_column(ForeignKey("captures.id", ondelete="SET NULL"))
    ts: Mapped[float] = mapped_column(Float, index=True)
    # No index of its own: ix_flows_pair (orig_h, resp_h) serves orig_h lookups.
    orig_h: Mapped[str] = mapped_column(String(45))
    orig_p: Mapped[int] = mapped_column(Integer)
    resp_h: Mapped[str] = mapped_column(String(45), index=True)
    resp_p: Mapped[int] = mapped_column(Integer)
    proto: Mapped[str] = mapped_column(String(16))
    service: Mapped[str | None] = mapped_column(String(32))
    duration: Mapped[float] = mapped_column(Float)
    orig_bytes: Mapped[int] = mapped_column(BigInteger)
    resp_bytes: Mapped[int] = mapped_column(BigInteger)
    conn_state: Mapped[str] = mapped_column(String(8))
    history: Mapped[str] = mapped_column(String(64))
    orig_pkts: Mapped[int] = mapped_column(BigInteger)
    resp_pkts: Mapped[int] = mapped_column(BigInteger)
    orig_ip_bytes: Mapped[int] = mapped_column(BigInteger)
    resp_ip_bytes: Mapped[int] = mapped_column(BigInteger)
    orig_l2_addr: Mapped[str | None] = mapped_column(String(17))
    resp_l2_addr: Mapped[str | None] = mapped_column(String(17))
    missed_bytes: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (Index("ix_flows_pair", "orig_h", "resp_h"),)


class DeviceRow(Base):
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    mac: Mapped[str | None] = mapped_column(String(17), index=True)
    vendor: Mapped[str | None] = mapped_column(String(256))
    type: Mapped[str] = mapped_column(String(64), default="unknown", index=True)
    manufacturer: Mapped[str | None] = mapped_column(String(256), index=True)
    model: Mapped[str | None] = mapped_column(String(256))
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    first_seen: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float, index=True)
    bytes_sent: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_received: Mapped[int] = mapped_column(BigInteger, default=0)
    packets_sent: Mapped[int] = mapped_column(BigInteger, default=0)
    packets_received: Mapped[int] = mapped_column(BigInteger, default=0)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    ips: Mapped[list[DeviceIp]] = relationship(
        back_populates="device", cascade="all, delete-orphan", lazy="selectin"
    )
    services: Mapped[list[DeviceService]] = relationship(
        back_populates="device", cascade="all, delete-orphan", lazy="selectin"
    )
    peers: Mapped[list[DevicePeer]] = relationship(
        back_populates="device", cascade="all, delete-orphan", lazy="selectin"
    )


class DeviceIp(Base):
    __tablename__ = "device_ips"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    ip: Mapped[str] = mapped_column(String(45), index=True)
    device: Mapped[DeviceRow] = relationship(back_populates="ips")

    __table_args__ = (UniqueConstraint("device_id", "ip"),)


class DeviceService(Base):
    """A (proto, port) the device offers (``role='offers'``) or uses as a client."""

    __tablename__ = "device_services"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(8))
    proto: Mapped[str] = mapped_column(String(16))
    port: Mapped[int] = mapped_column(Integer)
    device: Mapped[DeviceRow] = relationship(back_populates="services")

    __table_args__ = (UniqueConstraint("device_id", "role", "proto", "port"),)


class DevicePeer(Base):
    __tablename__ = "device_peers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    peer_ip: Mapped[str] = mapped_column(String(45))
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    device: Mapped[DeviceRow] = relationship(back_populates="peers")

    __table_args__ = (UniqueConstraint("device_id", "peer_ip"),)


class DeviceCapture(Base):
    """What one capture contributed to a device's counters and peers.

    The totals on ``devices`` and ``device_peers`` are sums over these rows, so analysing
    the same capture again replaces its contribution while a different capture adds to it.
    """

    __tablename__ = "device_captures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    capture_id: Mapped[int] = mapped_column(
        ForeignKey("captures.id", ondelete="CASCADE"), index=True
    )
    bytes_sent: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_received: Mapped[int] = mapped_column(BigInteger, default=0)
    packets_sent: Mapped[int] = mapped_column(BigInteger, default=0)
    packets_received: Mapped[int] = mapped_column(BigInteger, default=0)
    peers: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)

    __table_args__ = (UniqueConstraint("device_id", "capture_id"),)


class EventRow(Base):
    """A protocol event (no PHI: types, identifiers, sizes, a ``phi`` flag)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    capture_id: Mapped[int | None] = mapped_column(ForeignKey("captures.id", ondelete="SET NULL"))
    ts: Mapped[float] = mapped_column(Float, index=True)
    uid: Mapped[str] = mapped_column(String(32), index=True)
    protocol: Mapped[str] = mapped_column(String(16), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(4))
    phi: Mapped[bool] = mapped_column(default=False)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Hash of (uid, ts, kind, fields) so re-analysis does not duplicate events.
    digest: Mapped[str] = mapped_column(String(40), unique=True)
