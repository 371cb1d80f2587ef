"""Tiny packet builders for tests (checksums left at zero: nothing here verifies them)."""

from __future__ import annotations

import ipaddress
import struct


def mac(text: str) -> bytes:
    return bytes(int(x, 16) for x in text.split(":"))


def ether(src: str, dst: str, ethertype: int, payload: bytes, vlans: tuple[int, ...] = ()) -> bytes:
    head = mac(dst) + mac(src)
    for i, vid in enumerate(vlans):
        tpid = 0x88A8 if i == 0 and len(vlans) > 1 else 0x8100
        head += struct.pack("!HH", tpid, vid)
    return head + struct.pack("!H", ethertype) + payload


def ipv4(
    src: str, dst: str, proto: int, payload: bytes, ident: int = 1, frag: int = 0, ttl: int = 64
) -> bytes:
    total = 20 + len(payload)
    return (
        struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            total,
            ident,
            frag,
            ttl,
            proto,
            0,
            ipaddress.IPv4Address(src).packed,
            ipaddress.IPv4Address(dst).packed,
        )
        + payload
    )


def ipv6(src: str, dst: str, nxt: int, payload: bytes, hop: int = 64) -> bytes:
    return (
        struct.pack("!IHBB", 6 << 28, len(payload), nxt, hop)
        + ipaddress.IPv6Address(src).packed
        + ipaddress.IPv6Address(dst).packed
        + payload
    )


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def tcp(
    sport: int, dport: int, flags: int, seq: int = 0, ack: int = 0, payload: bytes = b""
) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload


def udp(sport: int, dport: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def icmp(icmp_type: int, code: int = 0, payload: bytes = b"\x00\x01\x00\x01") -> bytes:
    return struct.pack("!BBH", icmp_type, code, 0) + payload


def eth_ipv4_tcp(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    flags: int,
    payload: bytes = b"",
    seq: int = 0,
    smac: str = "02:00:00:00:00:01",
    dmac: str = "02:00:00:00:00:02",
) -> bytes:
    return ether(smac, dmac, 0x0800, ipv4(src, dst, 6, tcp(sport, dport, flags, seq, 0, payload)))
