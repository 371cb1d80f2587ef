"""Typed request and response bodies; the OpenAPI document is generated from these."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field, StringConstraints

from medsentry.flows.record import FlowRecord
from medsentry.inventory.device import Device
from medsentry.output.jsonl import to_jsonable
from medsentry.protocols.base import RESP, ProtocolEvent

T = TypeVar("T")

# Free text from the outside: bounded, and without NUL, which PostgreSQL refuses.
Text = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00]*$")]
Order = Literal["asc", "desc"]
Timestamp = Annotated[float, Field(ge=0, le=1e11, allow_inf_nan=False)]


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items``, the total matching, and the window asked for."""

    items: list[T]
    total: int
    limit: int
    offset: int


class DeviceSummary(BaseModel):
    key: str
    mac: str | None
    ips: list[str]
    vendor: str | None
    type: str
    manufacturer: str | None
    model: str | None
    confidence: float
    first_seen: float
    last_seen: float
    bytes_sent: int
    bytes_received: int
    packets_sent: int
    packets_received: int
    risk: Literal["P1", "P2", "P3", "P4"] | None = Field(
        default=None, description="The highest priority of the device's open findings (P1 first)"
    )

    @classmethod
    def of(cls, d: Device) -> DeviceSummary:
        return cls(
            key=d.key,
            mac=d.mac,
            ips=sorted(d.ips),
            vendor=d.vendor,
            type=d.type,
            manufacturer=d.manufacturer,
            model=d.model,
            confidence=d.confidence,
            first_seen=d.first_seen,
            last_seen=d.last_seen,
            bytes_sent=d.bytes_sent,
            bytes_received=d.bytes_received,
            packets_sent=d.packets_sent,
            packets_received=d.packets_received,
        )


class Service(BaseModel):
    proto: str
    port: int


class Peer(BaseModel):
    ip: str
    bytes: int
    device_key: str | None = None


class ProtocolUse(BaseModel):
    protocol: str
    kind: str
    count: int
    phi_count: int
    first_ts: float
    last_ts: float


class FlowOut(BaseModel):
    """A flow with Zeek conn.log field names."""

    model_config = {"populate_by_name": True}

    ts: float
    uid: str
    orig_h: str = Field(serialization_alias="id.orig_h")
    orig_p: int = Field(serialization_alias="id.orig_p")
    resp_h: str = Field(serialization_alias="id.resp_h")
    resp_p: int = Field(serialization_alias="id.resp_p")
    proto: str
    service: str | None
    duration: float
    orig_bytes: int
    resp_bytes: int
    conn_state: str
    history: str
    orig_pkts: int
    resp_pkts: int

    @classmethod
    def of(cls, f: FlowRecord) -> FlowOut:
        return cls(
            ts=f.ts,
            uid=f.uid,
            orig_h=f.orig_h,
            orig_p=f.orig_p,
            resp_h=f.resp_h,
            resp_p=f.resp_p,
            proto=f.proto,
            service=f.service,
            duration=f.duration,
            orig_bytes=f.orig_bytes,
            resp_bytes=f.resp_bytes,
            conn_state=f.conn_state,
            history=f.history,
            orig_pkts=f.orig_pkts,
            resp_pkts=f.resp_pkts,
        )


class EventOut(BaseModel):
    """A protocol event: message types and identifiers, a ``phi`` flag, never patient data."""

    ts: float
    uid: str
    protocol: str
    kind: str
    direction: Literal["orig", "resp"]
    phi: bool
    fields: dict[str, Any]

    @classmethod
    def of(cls, e: ProtocolEvent) -> EventOut:
        return cls(
            ts=e.ts,
            uid=e.uid,
            protocol=e.protocol,
            kind=e.kind,
            direction="resp" if e.direction == RESP else "orig",
            phi=bool(e.phi),
            fields=dict(to_jsonable(e.fields)),
        )


class CaptureOut(BaseModel):
    id: int
    sha256: str
    path: str
    packets: int
    bytes: int
    first_ts: float | None
    last_ts: float | None
    analysed_at: float
    status: str
    error: str | None


class JobOut(BaseModel):
    id: str
    kind: str
    filename: str
    owner: str
    state: Literal["queued", "running", "done", "failed"]
    stage: str
    progress: float = Field(description="0 to 1")
    bytes_total: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    error: str | None
    result: dict[str, Any]


class UserOut(BaseModel):
    username: str
    role: Literal["viewer", "analyst", "admin"]
    disabled: bool
    created_at: float
    last_login_at: float | None


class UserCreate(BaseModel):
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")]
    password: Annotated[str, StringConstraints(min_length=12, max_length=1024)]
    role: Literal["viewer", "analyst", "admin"] = "viewer"


class UserChange(BaseModel):
    role: Literal["viewer", "analyst", "admin"] | None = None
    disabled: bool | None = None
    password: Annotated[str, StringConstraints(min_length=12, max_length=1024)] | None = None


class TokenOut(BaseModel):
    id: int
    token_id: str
    username: str
    name: str
    created_at: float
    expires_at: float | None
    last_used_at: float | None
    revoked_at: float | None


class TokenCreate(BaseModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00]*$")]
    expires_in_days: Annotated[float, Field(gt=0, le=3650, allow_inf_nan=False)] | None = None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret token; shown only in this response")


class AuditOut(BaseModel):
    id: int
    at: float
    actor: str
    via: str
    action: str
    method: str | None
    route: str | None
    target: str | None
    status: int | None
    ip: str | None
    detail: dict[str, Any]


class Me(BaseModel):
    username: str
    role: Literal["viewer", "analyst", "admin"]
    via: Literal["token", "session"]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unreachable"]
    version: str


Note = Annotated[str, StringConstraints(max_length=4000, pattern=r"^[^\x00]*$")]


class FindingOut(BaseModel):
    """A vulnerability finding: a component matched to an advisory, its VEX state and the
    priority with the reason for it."""

    id: int
    vuln_id: str
    advisory: str
    component: str
    purl: str | None
    sbom_id: int
    device: str | None
    state: str
    priority: str | None
    priority_reason: str | None
    confidence: float
    method: str
    reason: str
    justification: str | None


class AlertOut(BaseModel):
    """One attack episode (the detector's JSON fields) and its triage state."""

    id: str
    capture_id: int | None
    ts_start: float
    ts_end: float
    category: str
    name: str
    severity: str
    confidence: float
    src: str | None
    dst: str | None
    protocol: str | None
    source: str
    targets: dict[str, Any]
    devices: list[str]
    counts: dict[str, Any]
    evidence: dict[str, Any]
    mitre: list[str]
    status: Literal["open", "acknowledged", "resolved"]
    acknowledged_by: str | None
    acknowledged_at: float | None
    resolved_by: str | None
    resolved_at: float | None


class AlertCommentOut(BaseModel):
    id: int
    author: str
    text: str
    ts: float


class AlertDetail(AlertOut):
    comments: list[AlertCommentOut]


class AlertNote(BaseModel):
    """An optional note kept as a comment with the status change."""

    note: Note | None = None


class CommentIn(BaseModel):
    text: Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=r"^[^\x00]*$")]


class DeviceDetail(DeviceSummary):
    services: list[Service]
    uses: list[Service]
    peers: list[Peer]
    evidence: list[dict[str, Any]]
    protocols: list[ProtocolUse]
    findings: list[FindingOut] = Field(description="Open findings first, by priority")
    alerts: list[AlertOut] = Field(description="The newest alerts that involve the device")
