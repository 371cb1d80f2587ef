"""DHCP starvation (and request floods) and rogue DHCP servers.

Starvation is judged on packets, so it works whatever the parser makes of forged
messages: client-to-server datagrams (UDP port 67) are grouped by the Ethernet source
that sent them, with the client hardware addresses (``chaddr``) they carry. Many messages,
or many different client addresses, from one sender within ``window_s`` is a flood.

A rogue server is one that offers or acknowledges leases while it is not one of the
configured ``known_servers``; without that list, the first server seen is taken as the
legitimate one and any other that answers is reported.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from medsentry.decode.addresses import mac_text
from medsentry.decode.columns import PROTO_UDP
from medsentry.detect.base import Alert, BatchView, Category, Severity, register
from medsentry.detect.config import DetectConfig, DhcpConfig
from medsentry.detect.episodes import Episode, EpisodeDetector, top
from medsentry.detect.vec import group_by, ip_at

SERVER_PORT = 67
CHADDR_OFFSET = 28
MITRE_STARVE = ["T1499", "T0814"]
MITRE_ROGUE = ["T1557.003", "T0830"]
SERVER_MESSAGES = ("offer", "ack", "nak")
ANY = "*"  # the network-wide episode
SPOOFED_MIN_SENDERS = 20  # distinct Ethernet sources that make a flood "forged senders"


def _chaddr(view: BatchView, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    """The 6-byte client hardware address of each DHCP datagram, as an integer."""
    d = view.decoded
    buf = np.frombuffer(d.batch.data, np.uint8)
    out = np.zeros(len(rows), np.uint64)
    start = d.payload_off[rows] + CHADDR_OFFSET
    for k in range(6):
        pos = np.minimum(start + k, len(buf) - 1)
        out = (out << np.uint64(8)) | buf[pos].astype(np.uint64)
    return out


@register("dhcp")
class DhcpDetector(EpisodeDetector):
    name = "dhcp"

    def __init__(self, config: DetectConfig) -> None:
        self.cfg: DhcpConfig = config.dhcp
        super().__init__(self.cfg.gap_s)
        self.servers: dict[str, float] = {s: 0.0 for s in self.cfg.known_servers}

    def _feed(self, view: BatchView) -> list[Episode]:
        closed = self._floods(view) if len(view) else []
        for e in view.events:
            if e.protocol == "dhcp" and e.kind in SERVER_MESSAGES:
                closed.extend(self._server_message(view, e.ts, e.uid, e.kind, e.fields))
        return closed

    def _floods(self, view: BatchView) -> list[Episode]:
        d = view.decoded
        rows = np.flatnonzero(
            (d.proto == PROTO_UDP)
            & d.l4_ok
            & (d.dport == SERVER_PORT)
            & (d.payload_len >= CHADDR_OFFSET + 6)
        )
        closed: list[Episode] = []
        if len(rows) == 0:
            return closed
        chaddr = _chaddr(view, rows)
        # The sender: its MAC where the link has one, else its IP address.
        g = group_by(d.eth_src[rows], d.src_hi[rows], d.src_lo[rows])
        t0, t1 = g.min(d.ts[rows]), g.max(d.ts[rows])
        for k in range(len(g)):
            sel = np.flatnonzero(g.inverse == k)
            row = int(rows[g.first[k]])
            mac = int(d.eth_src[row])
            sender = mac_text(mac) if mac else ip_at(d.src_hi, d.src_lo, row)
            ep, done = self.tracker.touch(("flood", sender), float(t0[k]), float(t1[k]))
            closed.extend(done)
            ts = d.ts[rows[sel]]
            ep.add("messages", len(sel))
            ep.add_windowed("messages", ts, None, self.cfg.window_s)
            ep.add_windowed("clients", ts, chaddr[sel], self.cfg.window_s)
            ep.add_distinct("clients", chaddr[sel].tolist(), 65536)
            ep.data.setdefault("src_ip", ip_at(d.src_hi, d.src_lo, row))
            if len(ep.uids) < 5:
                ep.add_uids(view.sample_uids(rows[sel]), 5)
        # Network-wide too: starvation tools often forge a new Ethernet source per message.
        ep, done = self.tracker.touch(
            ("flood", ANY), float(d.ts[rows].min()), float(d.ts[rows].max())
        )
        closed.extend(done)
        ep.add("messages", len(rows))
        ep.add_windowed("clients", d.ts[rows], chaddr, self.cfg.window_s)
        ep.add_distinct("clients", chaddr.tolist(), 65536)
        ep.add_distinct("senders", np.unique(d.eth_src[rows]).tolist(), 4096)
        if len(ep.uids) < 5:
            ep.add_uids(view.sample_uids(rows), 5)
        return closed

    def _server_message(
        self, view: BatchView, ts: float, uid: str, kind: str, fields: dict[str, object]
    ) -> list[Episode]:
        server = fields.get("server_id")
        if not isinstance(server, str) or not server or server == "0.0.0.0":
            ends = view.endpoints(uid)
            if ends is None:
                return []
            server = ends[0] if ends[1] == SERVER_PORT else ends[2]
        if server in self.servers:
            return []
        if not self.cfg.known_servers and not self.servers:
            self.servers[server] = ts  # the first server seen is taken as the real one
            return []
        ep, closed = self.tracker.touch(("rogue", server), ts, ts)
        ep.add(kind)
        client = fields.get("client_mac")
        if isinstance(client, str):
            ep.targets[client] = ep.targets.get(client, 0) + 1
        for key in ("assigned_addr", "routers", "dns_servers"):
            value = fields.get(key)
            if value and key not in ep.data:
                ep.data[key] = value
        ep.add_uids([uid])
        return closed

    def _alert(self, ep: Episode) -> Alert | None:
        kind, who = ep.key
        if kind == "rogue":
            return self._rogue_alert(ep, who)
        cfg = self.cfg
        if who == ANY:
            return self._spoofed_alert(ep)
        messages = ep.windowed_peak("messages")
        clients = ep.windowed_peak("clients")
        if messages < cfg.starvation_min_messages and clients < cfg.starvation_min_clients:
            return None
        many = clients >= cfg.starvation_min_clients
        src_ip = ep.data.get("src_ip")
        return Alert(
            category=Category.DHCP_STARVATION,
            name="DHCP starvation" if many else "DHCP request flood",
            severity=Severity.HIGH,
            confidence=0.9 if many else 0.8,
            ts_start=ep.first_ts,
            ts_end=ep.last_ts,
            src=src_ip if src_ip and src_ip != "0.0.0.0" else who,
            dst=None,
            devices=[who],
            protocol="dhcp",
            counts={
                "messages": ep.counts.get("messages", 0),
                "client_addresses": ep.distinct("clients"),
                "peak_messages_per_window": messages,
                "peak_clients_per_window": clients,
            },
            evidence={
                "summary": f"{who} sent {ep.counts.get('messages', 0)} DHCP client messages "
                f"for {ep.distinct('clients')} client address(es) in {ep.duration:.1f} s",
                "sender_mac": who if ":" in who and "." not in who else None,
                "window_s": cfg.window_s,
                "uids": ep.uids,
            },
            mitre=MITRE_STARVE,
        )

    def _spoofed_alert(self, ep: Episode) -> Alert | None:
        """Many forged senders together: only when no single sender explains the flood."""
        clients = ep.windowed_peak("clients")
        senders = ep.distinct("senders")
        if clients < self.cfg.starvation_min_clients or senders < SPOOFED_MIN_SENDERS:
            return None
        return Alert(
            category=Category.DHCP_STARVATION,
            name="DHCP starvation (forged senders)",
            severity=Severity.HIGH,
            confidence=0.85,
            ts_start=ep.first_ts,
            ts_end=ep.last_ts,
            src=None,
            dst=None,
            protocol="dhcp",
            counts={
                "messages": ep.counts.get("messages", 0),
                "client_addresses": ep.distinct("clients"),
                "senders": senders,
                "peak_clients_per_window": clients,
            },
            evidence={
                "summary": f"{ep.counts.get('messages', 0)} DHCP client messages for "
                f"{ep.distinct('clients')} client addresses from {senders} Ethernet sources "
                f"in {ep.duration:.1f} s",
                "window_s": self.cfg.window_s,
                "uids": ep.uids,
            },
            mitre=MITRE_STARVE,
        )

    def _rogue_alert(self, ep: Episode, server: str) -> Alert | None:
        answers = sum(ep.counts.get(k, 0) for k in SERVER_MESSAGES)
        if answers < self.cfg.rogue_min_offers:
            return None
        legit = sorted(self.servers)
        return Alert(
            category=Category.ROGUE_DHCP,
            name="Rogue DHCP server",
            severity=Severity.HIGH,
            confidence=0.9 if self.cfg.known_servers else 0.7,
            ts_start=ep.first_ts,
            ts_end=ep.last_ts,
            src=server,
            targets=top(ep.targets, 32),
            protocol="dhcp",
            counts={k: ep.counts.get(k, 0) for k in SERVER_MESSAGES},
            evidence={
                "summary": f"{server} answered DHCP clients ({answers} offers/acks/naks); "
                f"known server(s): {', '.join(legit) or 'none'}",
                "known_servers": legit,
                "offered": {
                    k: ep.data[k]
                    for k in ("assigned_addr", "routers", "dns_servers")
                    if k in ep.data
                },
                "uids": ep.uids,
            },
            mitre=MITRE_ROGUE,
        )
