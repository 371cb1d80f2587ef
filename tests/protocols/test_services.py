"""Choosing the MQTT / TLS / DNS / DHCP analyzer for a flow."""

from __future__ import annotations

from pathlib import Path

from net_replay import replay, tcp_connections, udp_datagrams

from medsentry.protocols.base import ORIG
from medsentry.protocols.services import (
    DATAGRAM_PARSERS,
    STREAM_ANALYZERS,
    datagram_protocol,
    stream_protocol,
)

MQTT_CONNECT = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04pump"
TLS_HELLO = b"\x16\x03\x01\x00\x30\x01\x00\x00\x2c\x03\x03"


def test_content_wins_over_ports() -> None:
    assert stream_protocol(1883, 50000, TLS_HELLO) == "tls"  # MQTT over TLS on 1883
    assert stream_protocol(17501, 50000, MQTT_CONNECT) == "mqtt"
    assert stream_protocol(8883) == "tls"
    assert stream_protocol(1883) == "mqtt"
    assert stream_protocol(53) == "dns"
    assert stream_protocol(80, 50000, b"GET / HTTP/1.1\r\n") is None


def test_datagram_choice() -> None:
    assert datagram_protocol(68, 67) == "dhcp"
    assert datagram_protocol(67, 67) == "dhcp"  # relay to server
    assert datagram_protocol(50000, 53) == "dns"
    assert datagram_protocol(53, 50000) == "dns"
    assert datagram_protocol(5353, 5353) == "dns"
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01"
    assert datagram_protocol(40000, 5533, query) == "dns"
    assert datagram_protocol(40000, 5533, b"\x00" * 20) is None


def test_registry_runs_the_corpus(corpus: Path) -> None:
    """Every TCP flow and UDP datagram of the TLS/DNS captures finds its analyzer."""
    base = corpus / "pcaps" / "tls_dns"
    seen: dict[str, int] = {}
    for path in sorted(base.glob("*.pcap")):
        for conn in tcp_connections(path):
            first = next((op[2] for op in conn.ops if op[0] == "data" and op[1] == ORIG), b"")
            name = stream_protocol(conn.resp[1], conn.orig[1], first)
            assert name is not None, (path.name, conn.resp)
            events = replay(STREAM_ANALYZERS[name]("C"), conn)
            seen[name] = seen.get(name, 0) + len(events)
        for dg in udp_datagrams(path):
            name = datagram_protocol(dg.src[1], dg.dst[1], dg.payload)
            assert name == "dns"
            seen[name] = seen.get(name, 0) + len(DATAGRAM_PARSERS[name](dg.payload, dg.ts, "U", 0))
    assert seen["tls"] >= 6 and seen["dns"] >= 9
