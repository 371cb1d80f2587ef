"""Fuzzing the DNS parser (UDP messages and TCP streams) with mutated corpus messages.

Short in the normal run; ``make fuzz`` (``-m fuzz --hypothesis-profile=long``) runs it longer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from net_replay import fuzz_datagram, fuzz_stream, stream_seeds, udp_datagrams

from medsentry.protocols.dns import DnsTcpAnalyzer, parse_dns


@pytest.fixture(scope="module")
def messages(corpus: Path) -> list[bytes]:
    found = [
        dg.payload
        for path in sorted((corpus / "pcaps" / "tls_dns").glob("*.pcap"))
        for dg in udp_datagrams(path)
        if 53 in (dg.src[1], dg.dst[1])
    ]
    assert len(found) >= 9
    return found


@pytest.fixture(scope="module")
def streams(corpus: Path) -> list[list[tuple[int, bytes]]]:
    return stream_seeds([corpus / "pcaps" / "tls_dns" / "arkime_dns-tcp.pcap"], {53})


@pytest.mark.fuzz
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_dns_messages(messages: list[bytes], data: st.DataObject) -> None:
    fuzz_datagram(data, parse_dns, messages, "dns")


@pytest.mark.fuzz
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_dns_tcp_streams(
    streams: list[list[tuple[int, bytes]]], data: st.DataObject
) -> None:
    fuzz_stream(data, DnsTcpAnalyzer, streams, limit=2 * (65535 + 2))
