"""Fuzzing the DHCP parser with mutated corpus messages.

Short in the normal run; ``make fuzz`` (``-m fuzz --hypothesis-profile=long``) runs it longer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from net_replay import fuzz_datagram, udp_datagrams

from medsentry.protocols.dhcp import parse_dhcp


@pytest.fixture(scope="module")
def messages(corpus: Path) -> list[bytes]:
    base = corpus / "pcaps" / "dhcp"
    paths = [p for p in sorted(base.rglob("*.pcap*")) if p.suffix in (".pcap", ".pcapng")]
    paths = [p for p in paths if "flood" not in str(p)]
    found = [dg.payload for path in paths for dg in udp_datagrams(path)]
    assert len(found) >= 30
    return found


@pytest.mark.fuzz
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_dhcp_messages(messages: list[bytes], data: st.DataObject) -> None:
    fuzz_datagram(data, parse_dhcp, messages, "dhcp")
