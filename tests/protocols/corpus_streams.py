"""Test utility: the TCP payloads of a capture, per connection and direction.

Only for byte-level analyzer tests; the product reads captures through its own pipeline.
Retransmitted and duplicate segments are dropped by sequence number.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

import dpkt

ORIG, RESP = 0, 1


@dataclass
class Connection:
    orig: tuple[str, int]
    resp: tuple[str, int]
    chunks: list[tuple[int, bytes, float]] = field(default_factory=list)

    def stream(self, direction: int) -> bytes:
        return b"".join(data for d, data, _ in self.chunks if d == direction)


def _reader(fh):  # type: ignore[no-untyped-def]
    magic = fh.read(4)
    fh.seek(0)
    if magic == b"\x0a\x0d\x0d\x0a":
        return dpkt.pcapng.Reader(fh)
    return dpkt.pcap.Reader(fh)


def _ip_of(link: int, buf: bytes):  # type: ignore[no-untyped-def]
    if link == dpkt.pcap.DLT_EN10MB:
        eth = dpkt.ethernet.Ethernet(buf)
        return eth.data
    if link in (dpkt.pcap.DLT_NULL, dpkt.pcap.DLT_LOOP):
        return dpkt.ip.IP(buf[4:]) if buf[4] >> 4 == 4 else dpkt.ip6.IP6(buf[4:])
    if link in (dpkt.pcap.DLT_RAW, 101, 228):
        return dpkt.ip.IP(buf)
    raise ValueError(f"link type {link} not handled by the test utility")


def _addr(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def tcp_connections(path: Path) -> list[Connection]:
    """Connections in order of first packet, with in-order, de-duplicated payload chunks."""
    conns: dict[tuple[tuple[str, int], tuple[str, int]], Connection] = {}
    next_seq: dict[tuple[tuple[str, int], tuple[str, int]], int] = {}
    with path.open("rb") as fh:
        reader = _reader(fh)
        link = reader.datalink()
        for ts, buf in reader:
            ip = _ip_of(link, buf)
            tcp = ip.data
            if not isinstance(tcp, dpkt.tcp.TCP):
                continue
            src, dst = (_addr(ip.src), tcp.sport), (_addr(ip.dst), tcp.dport)
            if (dst, src) in conns:
                conn, direction, key = conns[(dst, src)], RESP, (src, dst)
            else:
                conn = conns.setdefault((src, dst), Connection(src, dst))
                direction, key = ORIG, (src, dst)
            payload = bytes(tcp.data)
            syn = 1 if tcp.flags & dpkt.tcp.TH_SYN else 0
            if key not in next_seq:
                next_seq[key] = tcp.seq + syn
            start = next_seq[key]
            offset = (start - tcp.seq) & 0xFFFFFFFF
            if not payload or offset >= len(payload):
                continue
            payload = payload[offset:] if offset < 0x80000000 else payload
            next_seq[key] = (tcp.seq + offset + len(payload)) & 0xFFFFFFFF
            conn.chunks.append((direction, payload, float(ts)))
    return list(conns.values())
