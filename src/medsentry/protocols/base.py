"""What every application-protocol analyzer shares: events and the analyzer shape.

An analyzer turns the reassembled bytes of one flow (TCP) or single datagrams (UDP)
into typed events. Analyzers know nothing of storage or packets: the pipeline feeds
them bytes and collects events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

ORIG = 0  # direction: originator -> responder
RESP = 1  # direction: responder -> originator


@dataclass(frozen=True, slots=True)
class ProtocolEvent:
    """One application-layer event. ``fields`` never hold patient data (PHI): only
    message types, device and application identifiers, sizes and flags."""

    ts: float
    uid: str
    protocol: str  # "hl7", "dicom", "mqtt", "http", "dhcp", "dns", "tls", ...
    kind: str  # e.g. "message", "associate_rq", "connect", "request"
    direction: int = ORIG
    fields: dict[str, Any] = field(default_factory=dict)
    phi: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "uid": self.uid,
            "protocol": self.protocol,
            "kind": self.kind,
            "direction": "orig" if self.direction == ORIG else "resp",
            "phi": self.phi,
            **self.fields,
        }


class StreamAnalyzer(Protocol):
    """Analyzer of one TCP connection's two reassembled byte streams."""

    protocol: str

    def feed(self, direction: int, data: bytes, ts: float) -> list[ProtocolEvent]:
        """Take the next in-order bytes of one direction; return events completed."""
        ...

    def gap(self, direction: int, size: int, ts: float) -> list[ProtocolEvent]:
        """``size`` bytes of one direction were never seen; resynchronise if possible."""
        ...

    def close(self, ts: float) -> list[ProtocolEvent]:
        """The connection ended; flush what can be reported."""
        ...

    # Optional, for speed: an analyzer may also define
    #   skippable(direction) -> int: how many upcoming bytes of that direction it does not
    #     need (e.g. the rest of a body of known length); 0 when it needs them all;
    #   skip(direction, size) -> None: count that many of them as read without seeing them.
    # Skipping must never change the events: the pipeline then drops whole packets inside
    # the range before they reach Python, and tells the analyzer how far it got.
