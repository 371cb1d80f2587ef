"""What the store shows about devices, read once and shared by the evaluators and the MDS2
declared-versus-observed diff.

Every query aggregates in the database (GROUP BY over flows and events) so a store with
millions of rows still answers with one row per device pair and port, never per packet.
Nothing here reads patient data: events hold only message types, identifiers and a ``phi``
flag.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medsentry.store.models.core import DeviceIp, DeviceRow, DeviceService, EventRow, Flow

TLS_SERVICES = ("ssl", "tls", "dtls")
# Medical device types (inventory vocabulary); the rest is IT around them.
MEDICAL_TYPES = frozenset(
    {"infusion_pump", "patient_monitor", "imaging_modality", "pacs_archive", "iomt_sensor"}
)
# Services that let a person operate or service a device from elsewhere.
REMOTE_ACCESS_PORTS = {
    ("tcp", 22): "SSH",
    ("tcp", 23): "Telnet",
    ("tcp", 3389): "RDP",
    ("tcp", 5900): "VNC",
    ("tcp", 5938): "TeamViewer",
    ("tcp", 5631): "pcAnywhere",
}
# Clear-text or legacy administration services that hardening guides ask to disable.
INSECURE_SERVICE_PORTS = {
    ("tcp", 21): "FTP",
    ("tcp", 23): "Telnet",
    ("udp", 69): "TFTP",
    ("tcp", 80): "HTTP",
    ("tcp", 139): "NetBIOS",
    ("tcp", 445): "SMB",
    ("tcp", 512): "rexec",
    ("tcp", 513): "rlogin",
    ("tcp", 514): "rsh",
    ("udp", 161): "SNMP",
    ("tcp", 5900): "VNC",
}


def is_public(ip: str) -> bool:
    """A globally routable address (not private, loopback, link-local, multicast...)."""
    try:
        return ipaddress.ip_address(ip).is_global
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    id: int
    key: str
    type: str
    manufacturer: str | None
    model: str | None
    vendor: str | None
    ips: tuple[str, ...]
    hostname: str | None = None

    @property
    def label(self) -> str:
        """A short human name: hostname or maker and model, then the address."""
        who = self.hostname or " ".join(p for p in (self.manufacturer, self.model) if p)
        if not who:
            kind = self.type.replace("_", " ") if self.type != "unknown" else ""
            vendor = re.split(r" - |,|\(", self.vendor)[0].strip() if self.vendor else None
            who = " ".join(p for p in (vendor, kind) if p) or "device"
        where = self.ips[0] if self.ips else self.key
        return f"{who} [{where}]"

    @property
    def medical(self) -> bool:
        return self.type in MEDICAL_TYPES


@dataclass(frozen=True, slots=True)
class PhiTransfer:
    """Patient data seen in clear text between two hosts on one service port."""

    protocol: str
    sender: str
    receiver: str
    port: int
    messages: int


@dataclass(frozen=True, slots=True)
class Conversation:
    orig_h: str
    resp_h: str
    resp_p: int
    proto: str
    flows: int


@dataclass(frozen=True, slots=True)
class UnauthenticatedSession:
    """A session that carried no credentials of its own (and no TLS under it)."""

    protocol: str
    client: str
    server: str
    port: int
    reason: str
    count: int


@dataclass
class Observations:
    """Lazy, cached views of the store for one assessment."""

    session: Session
    _cache: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ devices

    @cached_property
    def devices(self) -> list[DeviceInfo]:
        ips: dict[int, list[str]] = defaultdict(list)
        for device_id, ip in self.session.execute(
            select(DeviceIp.device_id, DeviceIp.ip).order_by(DeviceIp.ip)
        ):
            ips[device_id].append(ip)
        out = []
        for row in self.session.scalars(select(DeviceRow).order_by(DeviceRow.id)):
            out.append(
                DeviceInfo(
                    id=row.id,
                    key=row.key,
                    type=row.type or "unknown",
                    manufacturer=row.manufacturer,
                    model=row.model,
                    vendor=row.vendor,
                    ips=tuple(ips.get(row.id, ())),
                    hostname=_hostname(row.evidence),
                )
            )
        return out

    @cached_property
    def device_by_ip(self) -> dict[str, DeviceInfo]:
        return {ip: d for d in self.devices for ip in d.ips}

    @cached_property
    def device_by_id(self) -> dict[int, DeviceInfo]:
        return {d.id: d for d in self.devices}

    def name(self, ip: str) -> str:
        device = self.device_by_ip.get(ip)
        return device.label if device else ip

    def devices_of(self, types: Iterable[str] | None) -> list[DeviceInfo]:
        wanted = set(types or ())
        return [d for d in self.devices if not wanted or d.type in wanted]

    def ips_of(self, types: Iterable[str] | None) -> set[str] | None:
        """IPs of devices of these types; None means "no filter"."""
        wanted = set(types or ())
        if not wanted:
            return None
        return {ip for d in self.devices if d.type in wanted for ip in d.ips}

    @cached_property
    def services(self) -> dict[int, dict[str, set[tuple[str, int]]]]:
        """device id -> role ('offers'/'uses') -> {(proto, port)}."""
        out: dict[int, dict[str, set[tuple[str, int]]]] = defaultdict(lambda: defaultdict(set))
        rows = self.session.execute(
            select(
                DeviceService.device_id,
                DeviceService.role,
                DeviceService.proto,
                DeviceService.port,
            )
        )
        for device_id, role, proto, port in rows:
            out[device_id][role].add((proto, port))
        return out

    # ------------------------------------------------------------------ traffic

    @cached_property
    def flow_count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(Flow)) or 0)

    @cached_property
    def event_count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(EventRow)) or 0)

    @cached_property
    def conversations(self) -> list[Conversation]:
        rows = self.session.execute(
            select(Flow.orig_h, Flow.resp_h, Flow.resp_p, Flow.proto, func.count()).group_by(
                Flow.orig_h, Flow.resp_h, Flow.resp_p, Flow.proto
            )
        )
        return [Conversation(o, r, int(p), proto, int(n)) for o, r, p, proto, n in rows]

    @cached_property
    def tls_conversations(self) -> list[Conversation]:
        tls_uids = select(EventRow.uid).where(EventRow.protocol == "tls")
        rows = self.session.execute(
            select(Flow.orig_h, Flow.resp_h, Flow.resp_p, Flow.proto, func.count())
            .where((Flow.service.in_(TLS_SERVICES)) | (Flow.uid.in_(tls_uids)))
            .group_by(Flow.orig_h, Flow.resp_h, Flow.resp_p, Flow.proto)
        )
        return [Conversation(o, r, int(p), proto, int(n)) for o, r, p, proto, n in rows]

    @cached_property
    def phi_events(self) -> int:
        return int(
            self.session.scalar(
                select(func.count()).select_from(EventRow).where(EventRow.phi.is_(True))
            )
            or 0
        )

    @cached_property
    def phi_cleartext(self) -> list[PhiTransfer]:
        """PHI-flagged events on flows that are not TLS, grouped by sender and service."""
        tls_uids = select(EventRow.uid).where(EventRow.protocol == "tls")
        stmt = (
            select(
                EventRow.protocol,
                EventRow.direction,
                Flow.orig_h,
                Flow.resp_h,
                Flow.resp_p,
                func.count(),
            )
            .join(Flow, Flow.uid == EventRow.uid)
            .where(
                EventRow.phi.is_(True),
                (Flow.service.is_(None)) | (Flow.service.not_in(TLS_SERVICES)),
                EventRow.uid.not_in(tls_uids),
            )
            .group_by(EventRow.protocol, EventRow.direction, Flow.orig_h, Flow.resp_h, Flow.resp_p)
        )
        merged: dict[tuple[str, str, str, int], int] = defaultdict(int)
        for protocol, direction, orig_h, resp_h, resp_p, n in self.session.execute(stmt):
            sender, receiver = (resp_h, orig_h) if direction == "resp" else (orig_h, resp_h)
            merged[(protocol, sender, receiver, int(resp_p))] += int(n)
        return [
            PhiTransfer(protocol, s, r, port, n)
            for (protocol, s, r, port), n in sorted(merged.items(), key=lambda kv: -kv[1])
        ]

    @cached_property
    def inbound_public(self) -> list[Conversation]:
        """Connections opened from a public address to one of ours."""
        return [c for c in self.conversations if is_public(c.orig_h) and not is_public(c.resp_h)]

    @cached_property
    def outbound_public(self) -> list[Conversation]:
        return [c for c in self.conversations if not is_public(c.orig_h) and is_public(c.resp_h)]

    @cached_property
    def unauthenticated(self) -> list[UnauthenticatedSession]:
        return _unauthenticated(self)

    @cached_property
    def last_capture_at(self) -> float | None:
        from medsentry.store.models.core import CaptureRun

        value = self.session.scalar(select(func.max(CaptureRun.analysed_at)))
        return float(value) if value is not None else None


def _hostname(evidence: Any) -> str | None:
    if not isinstance(evidence, list):
        return None
    for item in evidence:
        if isinstance(item, dict):
            for key in ("hostname", "host_name", "dhcp_hostname"):
                value = item.get(key)
                if isinstance(value, str) and value.strip():
                    return value.strip()[:64]
    return None


def _session_events(obs: Observations, protocol: str, kinds: tuple[str, ...]) -> Any:
    return obs.session.execute(
        select(EventRow.uid, EventRow.kind, EventRow.fields, Flow.orig_h, Flow.resp_h, Flow.resp_p)
        .join(Flow, Flow.uid == EventRow.uid)
        .where(EventRow.protocol == protocol, EventRow.kind.in_(kinds))
        .execution_options(yield_per=2000)
    )


def _unauthenticated(obs: Observations) -> list[UnauthenticatedSession]:
    counts: dict[tuple[str, str, str, int, str], int] = defaultdict(int)

    # MQTT: a CONNECT without user name that the broker accepted.
    anonymous: dict[str, tuple[str, str, int]] = {}
    accepted: set[str] = set()
    for uid, kind, fields, orig_h, resp_h, resp_p in _session_events(
        obs, "mqtt", ("connect", "connack")
    ):
        fields = fields or {}
        if kind == "connect" and not fields.get("username_present"):
            anonymous[uid] = (orig_h, resp_h, int(resp_p))
        elif kind == "connack" and fields.get("accepted"):
            accepted.add(uid)
    for uid, (client, server, port) in anonymous.items():
        if uid in accepted:
            counts[("mqtt", client, server, port, "MQTT login without credentials accepted")] += 1

    # DICOM: an association accepted without user identity negotiation.
    requested: dict[str, tuple[str, str, int]] = {}
    associated: set[str] = set()
    for uid, kind, fields, orig_h, resp_h, resp_p in _session_events(
        obs, "dicom", ("associate_rq", "associate_ac")
    ):
        if kind == "associate_rq" and not (fields or {}).get("user_identity"):
            requested[uid] = (orig_h, resp_h, int(resp_p))
        elif kind == "associate_ac":
            associated.add(uid)
    for uid, (client, server, port) in requested.items():
        if uid in associated:
            reason = "DICOM association accepted without user identity or TLS"
            counts[("dicom", client, server, port, reason)] += 1

    # HTTP: FHIR requests carrying no Authorization header.
    for _uid, _kind, fields, orig_h, resp_h, resp_p in _session_events(obs, "http", ("request",)):
        fields = fields or {}
        if fields.get("fhir") and not fields.get("auth_scheme") and not fields.get("basic_auth"):
            counts[("http", orig_h, resp_h, int(resp_p), "FHIR request without authorization")] += 1

    # HL7 v2 over MLLP has no authentication at all; only TLS under it could add some.
    seen_hl7: set[str] = set()
    for uid, _kind, _fields, orig_h, resp_h, resp_p in _session_events(obs, "hl7", ("message",)):
        if uid in seen_hl7:
            continue
        seen_hl7.add(uid)
        reason = "HL7 v2 over MLLP without TLS (no node authentication)"
        counts[("hl7", orig_h, resp_h, int(resp_p), reason)] += 1

    return [
        UnauthenticatedSession(protocol, client, server, port, reason, n)
        for (protocol, client, server, port, reason), n in sorted(counts.items())
    ]
