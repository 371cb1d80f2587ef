"""A finished (or in-progress) connection, with Zeek ``conn.log`` field names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class FlowRecord:
    """One bidirectional flow. ``orig`` is the side that sent the first packet
    (or the SYN, when the handshake is seen)."""

    ts: float
    uid: str
    orig_h: str
    orig_p: int
    resp_h: str
    resp_p: int
    proto: str  # "tcp", "udp", "icmp", "icmp6" or another IP protocol name/number
    duration: float
    orig_bytes: int  # payload bytes (Zeek: application-layer bytes)
    resp_bytes: int
    conn_state: str
    history: str
    orig_pkts: int
    resp_pkts: int
    orig_ip_bytes: int
    resp_ip_bytes: int
    orig_l2_addr: str | None = None
    resp_l2_addr: str | None = None
    service: str | None = None
    missed_bytes: int = 0
    vlan: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def last_ts(self) -> float:
        return self.ts + self.duration

    def to_zeek(self) -> dict[str, Any]:
        """The record as a Zeek ``conn.log`` JSON object."""
        row: dict[str, Any] = {
            "ts": self.ts,
            "uid": self.uid,
            "id.orig_h": self.orig_h,
            "id.orig_p": self.orig_p,
            "id.resp_h": self.resp_h,
            "id.resp_p": self.resp_p,
            "proto": self.proto,
            "service": self.service,
            "duration": self.duration,
            "orig_bytes": self.orig_bytes,
            "resp_bytes": self.resp_bytes,
            "conn_state": self.conn_state,
            "missed_bytes": self.missed_bytes,
            "history": self.history,
            "orig_pkts": self.orig_pkts,
            "orig_ip_bytes": self.orig_ip_bytes,
            "resp_pkts": self.resp_pkts,
            "resp_ip_bytes": self.resp_ip_bytes,
            "orig_l2_addr": self.orig_l2_addr,
            "resp_l2_addr": self.resp_l2_addr,
        }
        if self.vlan is not None:
            row["vlan"] = self.vlan
        return row
