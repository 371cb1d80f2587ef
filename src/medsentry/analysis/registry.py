"""Which analyzer handles which traffic: one place joining the protocol modules' tables."""

from __future__ import annotations

from medsentry.protocols import services
from medsentry.protocols.base import ProtocolEvent, StreamAnalyzer
from medsentry.protocols.detect import ANALYZERS, PORT_HINTS, guess_protocol

# TCP ports whose flows are worth a look even when their first bytes say nothing.
STREAM_PORTS: dict[int, str] = dict(PORT_HINTS)
# UDP ports carrying datagram protocols we parse.
DATAGRAM_PORTS: dict[int, str] = dict(services.UDP_PORTS)

# First payload bytes that can open a conversation of an analysed protocol: MLLP start
# block, DICOM PDU types, MQTT control packets, TLS/SSL records, HTTP method or status
# letters. A flow starting with anything else, on no known port, is never inspected.
CANDIDATE_FIRST_BYTES: frozenset[int] = frozenset(
    {0x0B, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07}
    | {t << 4 for t in range(1, 16)}
    | {0x14, 0x15, 0x16, 0x17, 0x80}
    | set(range(ord("A"), ord("Z") + 1))
)


# Protocols whose first bytes carry no signature (DNS over TCP starts with a length):
# only their port can point at them.
PORT_ONLY = frozenset({"dns"})


def choose_stream(
    first_orig: bytes,
    first_resp: bytes,
    orig_port: int,
    resp_port: int,
    handshake_seen: bool = False,
) -> str | None:
    """The stream analyzer for a TCP flow.

    When the handshake was seen, the first payload is the start of the conversation: it
    must be recognised, or at least start with a byte some message could start with,
    before the port is trusted. A flow picked up mid-stream falls back to its port.
    """
    if handshake_seen:
        name = guess_protocol(first_orig, first_resp, 0, 0)
        if name is None:
            # Not a clean opening (an MQTT session without CONNECT, say): trust the
            # port only if the first byte could start a message of some protocol.
            first = (first_orig or first_resp)[:1]
            hint = PORT_HINTS.get(resp_port) or PORT_HINTS.get(orig_port)
            plausible = bool(first) and first[0] in CANDIDATE_FIRST_BYTES
            name = hint if hint in PORT_ONLY or plausible else None
    else:
        name = guess_protocol(first_orig, first_resp, orig_port, resp_port)
    return name if name in ANALYZERS else None


def recognised_by_content(first_orig: bytes, first_resp: bytes) -> bool:
    """Whether the first bytes alone identify a protocol (not just the port)."""
    return guess_protocol(first_orig, first_resp, 0, 0) is not None


def make_stream_analyzer(name: str, uid: str) -> StreamAnalyzer:
    return ANALYZERS[name](uid)


def choose_datagram(src_port: int, dst_port: int, payload: bytes) -> str | None:
    return services.datagram_protocol(src_port, dst_port, payload)


def parse_datagram(
    name: str, payload: bytes, ts: float, uid: str, direction: int
) -> list[ProtocolEvent]:
    return services.DATAGRAM_PARSERS[name](payload, ts, uid, direction)
