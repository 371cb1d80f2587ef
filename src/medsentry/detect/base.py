"""What every detector shares: the alert record, the batch view it observes, and the registry.

A detector is a small object that looks at one batch at a time (numpy columns of the
packets, the flows that closed, the protocol events) and yields alerts. It keeps only
bounded state and measures time with packet timestamps, never the wall clock, so a file
and a live capture give the same alerts.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from medsentry.decode.columns import DecodedBatch
from medsentry.flows.record import FlowRecord
from medsentry.protocols.base import ProtocolEvent

if TYPE_CHECKING:
    from medsentry.detect.config import DetectConfig


class Category(StrEnum):
    """The fixed alert vocabulary (docs/detection.md explains each value)."""

    ARP_SPOOFING = "arp_spoofing"
    DOS = "dos"
    DDOS = "ddos"
    RECON_PORT_SCAN = "recon_port_scan"
    RECON_PING_SWEEP = "recon_ping_sweep"
    RECON_OS_SCAN = "recon_os_scan"
    RECON_VULN_SCAN = "recon_vuln_scan"
    MQTT_CONNECT_FLOOD = "mqtt_connect_flood"
    MQTT_PUBLISH_FLOOD = "mqtt_publish_flood"
    MQTT_MALFORMED = "mqtt_malformed"
    BRUTE_FORCE = "brute_force"
    DHCP_STARVATION = "dhcp_starvation"
    ROGUE_DHCP = "rogue_dhcp"
    PHI_CLEARTEXT = "phi_cleartext"
    DICOM_BULK_QUERY = "dicom_bulk_query"
    NEW_EXTERNAL_PEER = "new_external_peer"
    BASELINE_DEVIATION = "baseline_deviation"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


def endpoint(ip: str, port: int) -> str:
    """``ip:port``, with IPv6 addresses in brackets so the port stays unambiguous."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def split_endpoint(text: str) -> tuple[str, int | None]:
    """The inverse of ``endpoint``; plain addresses (and MACs) come back without a port."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
        return host, int(port) if port.isdigit() else None
    host, sep, port = text.rpartition(":")
    if sep and text.count(":") == 1 and port.isdigit():
        return host, int(port)
    return text, None


def alert_id(category: str, src: str | None, ts_start: float, dst: str | None = None) -> str:
    """Deterministic id: re-analysing the same capture yields the same ids. Alerts
    without a single source (distributed floods) are told apart by their target."""
    key = f"{category}|{src or '-'}|{ts_start:.6f}" + ("" if src else f"|{dst or '-'}")
    return hashlib.sha1(key.encode()).hexdigest()[:20]


@dataclass(slots=True)
class Alert:
    """One attack episode: first/last time, who, against whom, how much, and why we think so.

    ``targets`` maps each target (IP, ``ip:port``, MAC or AE title) to how many times it was
    hit; ``dst`` is the main one. ``counts`` holds the episode's numbers (packets, probes,
    failures...), ``evidence`` what was seen, with up to a few flow ``uids``.
    ``source`` says whether a rule or the model raised it.
    """

    category: Category
    name: str
    severity: Severity
    confidence: float
    ts_start: float
    ts_end: float
    src: str | None
    dst: str | None = None
    targets: dict[str, int] = field(default_factory=dict)
    devices: list[str] = field(default_factory=list)
    protocol: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    mitre: list[str] = field(default_factory=list)
    source: str = "rule"
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = alert_id(self.category.value, self.src, self.ts_start, self.dst)

    @property
    def uids(self) -> list[str]:
        return list(self.evidence.get("uids", []))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ts": self.ts_start,
            "ts_start": self.ts_start,
            "ts_end": self.ts_end,
            "category": self.category.value,
            "name": self.name,
            "severity": self.severity.value,
            "confidence": round(self.confidence, 4),
            "src": self.src,
            "dst": self.dst,
            "targets": self.targets,
            "devices": self.devices,
            "protocol": self.protocol,
            "counts": self.counts,
            "evidence": self.evidence,
            "mitre": self.mitre,
            "source": self.source,
        }

    @staticmethod
    def from_json(row: dict[str, Any]) -> Alert:
        return Alert(
            id=row["id"],
            category=Category(row["category"]),
            name=row["name"],
            severity=Severity(row["severity"]),
            confidence=float(row["confidence"]),
            ts_start=float(row["ts_start"]),
            ts_end=float(row["ts_end"]),
            src=row.get("src"),
            dst=row.get("dst"),
            targets=dict(row.get("targets") or {}),
            devices=list(row.get("devices") or []),
            protocol=row.get("protocol"),
            counts=dict(row.get("counts") or {}),
            evidence=dict(row.get("evidence") or {}),
            mitre=list(row.get("mitre") or []),
            source=row.get("source", "rule"),
        )


@dataclass(slots=True)
class BatchView:
    """Everything detectors may look at for one batch, built by the pipeline.

    ``flow_index[i]`` is the position in ``flow_uids`` of packet ``i``'s flow (-1 when the
    packet belongs to no flow, e.g. ARP). ``flows_closed`` are the flows that finished
    while this batch was processed; ``events`` the protocol events it completed.
    ``flow_peers`` maps a flow uid to ``(orig_h, orig_p, resp_h, resp_p)``; the pipeline
    may fill it for the uids of ``events``, and the engine completes it from the packets
    and from earlier batches, so detectors can ask ``endpoints(uid)``.
    """

    decoded: DecodedBatch
    flow_index: npt.NDArray[np.int64]
    flow_uids: Sequence[str]
    flows_closed: list[FlowRecord] = field(default_factory=list)
    events: list[ProtocolEvent] = field(default_factory=list)
    flow_peers: dict[str, tuple[str, int, str, int]] = field(default_factory=dict)

    def endpoints(self, uid: str) -> tuple[str, int, str, int] | None:
        """``(orig_h, orig_p, resp_h, resp_p)`` of a flow, when known."""
        return self.flow_peers.get(uid)

    def __len__(self) -> int:
        return len(self.decoded)

    def uid_of(self, row: int) -> str | None:
        i = int(self.flow_index[row]) if len(self.flow_index) > row else -1
        return self.flow_uids[i] if 0 <= i < len(self.flow_uids) else None

    def sample_uids(self, rows: npt.NDArray[np.int64], limit: int = 5) -> list[str]:
        """Up to ``limit`` distinct flow uids of the packets at ``rows``."""
        if len(rows) == 0 or len(self.flow_index) == 0:
            return []
        idx = self.flow_index[rows]
        idx = idx[idx >= 0]
        if len(idx) == 0:
            return []
        _, first = np.unique(idx, return_index=True)
        picked = idx[np.sort(first)][:limit]
        return [self.flow_uids[int(i)] for i in picked if int(i) < len(self.flow_uids)]

    @property
    def last_ts(self) -> float | None:
        return float(self.decoded.ts.max()) if len(self.decoded) else None


class Detector(Protocol):
    """The shape of a detector: observe batches, flush at end of input."""

    name: str

    def observe(self, view: BatchView) -> Iterable[Alert]:
        """Look at one batch; return alerts for episodes that ended."""
        ...

    def expire(self, now: float) -> Iterable[Alert]:
        """Close episodes idle since before ``now`` (packet time); return their alerts."""
        ...

    def finish(self) -> Iterable[Alert]:
        """End of input: report every open episode that qualifies."""
        ...

    def pending(self) -> Iterable[Alert]:
        """Alerts for open episodes that already qualify (same ids as when closed)."""
        ...


DetectorFactory = Callable[["DetectConfig"], Detector]

_REGISTRY: dict[str, DetectorFactory] = {}

# Modules of the built-in detectors; importing one registers its detectors.
BUILTIN_MODULES = (
    "arp",
    "flood",
    "scan",
    "mqtt",
    "bruteforce",
    "dhcp",
    "dicom",
    "phi",
    "external",
    "baseline",
)


def register(name: str) -> Callable[[DetectorFactory], DetectorFactory]:
    """Class decorator: make a detector available to the engine under ``name``."""

    def deco(factory: DetectorFactory) -> DetectorFactory:
        _REGISTRY[name] = factory
        return factory

    return deco


def registered() -> dict[str, DetectorFactory]:
    """Every registered detector, built-ins included."""
    for module in BUILTIN_MODULES:
        importlib.import_module(f"medsentry.detect.{module}")
    return dict(_REGISTRY)
