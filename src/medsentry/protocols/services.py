"""Which analyzer reads which flow, for MQTT, TLS, DNS and DHCP.

The pipeline asks ``stream_protocol`` for a TCP flow (server port and, when it has
them, the first client bytes) and ``datagram_protocol`` for a UDP datagram, then builds
the analyzer from ``STREAM_ANALYZERS`` or calls the parser from ``DATAGRAM_PARSERS``.
Content wins over ports: TLS on port 1883 goes to the TLS analyzer, MQTT on 17501 to the
MQTT analyzer.
"""

from __future__ import annotations

from collections.abc import Callable

from medsentry.protocols import dhcp, dns, mqtt, tls
from medsentry.protocols.base import ProtocolEvent, StreamAnalyzer

DatagramParser = Callable[[bytes, float, str, int], list[ProtocolEvent]]

STREAM_ANALYZERS: dict[str, Callable[[str], StreamAnalyzer]] = {
    "mqtt": mqtt.MqttAnalyzer,
    "tls": tls.TlsAnalyzer,
    "dns": dns.DnsTcpAnalyzer,
}
DATAGRAM_PARSERS: dict[str, DatagramParser] = {
    "dhcp": dhcp.parse_dhcp,
    "dns": dns.parse_dns,
}

TCP_PORTS: dict[int, str] = {
    **{port: "mqtt" for port in mqtt.PORTS},
    **{port: "tls" for port in tls.PORTS},
    53: "dns",
}
UDP_PORTS: dict[int, str] = {
    **{port: "dhcp" for port in dhcp.PORTS},
    **{port: "dns" for port in dns.PORTS},
}

# Payload checks on the first bytes the client sent, tried before ports.
STREAM_PROBES: dict[str, Callable[[bytes], bool]] = {
    "tls": tls.looks_like_tls,
    "mqtt": mqtt.looks_like_mqtt,
}


def stream_protocol(resp_port: int, orig_port: int = 0, first_orig: bytes = b"") -> str | None:
    """Name of the stream analyzer for a TCP flow, or None if none of these applies."""
    for name, probe in STREAM_PROBES.items():
        if first_orig and probe(first_orig):
            return name
    return TCP_PORTS.get(resp_port) or TCP_PORTS.get(orig_port)


def datagram_protocol(src_port: int, dst_port: int, payload: bytes = b"") -> str | None:
    """Name of the datagram parser for a UDP datagram, or None."""
    name = UDP_PORTS.get(dst_port) or UDP_PORTS.get(src_port)
    if name is None and payload and dns.looks_like_dns(payload):
        return "dns"
    return name
