"""The application layer forgets flows once they have ended: memory stays bounded."""

from __future__ import annotations

import struct

from medsentry.analysis.pipeline import Analysis
from medsentry.capture.batch import PacketBatch
from tests.packets import ether, ipv4, udp

QUERY = struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\x04demo\x00\x00\x01\x00\x01"


def test_endpoints_of_ended_flows_are_dropped() -> None:
    analysis = Analysis()
    for k in range(50):  # one DNS query a packet, each far apart: 50 short flows
        frame = ether(
            "02:00:00:00:00:01",
            "02:00:00:00:00:02",
            0x0800,
            ipv4("10.0.0.1", "10.0.0.53", 17, udp(40000 + k, 53, QUERY)),
        )
        analysis.feed(PacketBatch.from_packets([frame], [1000.0 + 120 * k]))
    assert analysis.app is not None
    assert analysis.stats.events == 50
    assert len(analysis.app.endpoints) <= 2  # only flows still open or just ended
    stats = analysis.finish()
    assert stats.flows == 50
