"""A device seen on the network, identified by MAC (or by IP where no L2 is visible)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Device:
    """Everything the inventory knows about one device.

    ``key`` is stable across runs: ``mac:aa:bb:..`` or ``ip:10.0.0.5``.
    ``services`` are (proto, port) the device answered on; ``uses`` the remote
    (proto, port) it connected to; ``peers`` maps peer IP to bytes exchanged.
    """

    key: str
    mac: str | None
    ips: set[str] = field(default_factory=set)
    vendor: str | None = None
    first_seen: float = 0.0
    last_seen: float = 0.0
    services: set[tuple[str, int]] = field(default_factory=set)
    uses: set[tuple[str, int]] = field(default_factory=set)
    peers: dict[str, int] = field(default_factory=dict)
    bytes_sent: int = 0
    bytes_received: int = 0
    packets_sent: int = 0
    packets_received: int = 0
    # Identity, filled by later stages (protocol evidence, classification rules).
    type: str = "unknown"
    manufacturer: str | None = None
    model: str | None = None
    confidence: float = 0.0
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "mac": self.mac,
            "ips": sorted(self.ips),
            "vendor": self.vendor,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "services": [f"{p}/{n}" for p, n in sorted(self.services)],
            "uses": [f"{p}/{n}" for p, n in sorted(self.uses)],
            "peers": dict(sorted(self.peers.items(), key=lambda kv: -kv[1])),
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
            "packets_sent": self.packets_sent,
            "packets_received": self.packets_received,
            "type": self.type,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "confidence": self.confidence,
            "evidence": self.evidence,
        }
