"""DHCP starvation from hand-built DISCOVER floods: one sender cycling client addresses,
and a flood where every message also forges its Ethernet source."""

from __future__ import annotations

import struct

from medsentry.detect.base import Alert, Category
from medsentry.detect.engine import DetectionEngine
from tests.detect.views import frames_views
from tests.packets import ether, ipv4, udp


def discover(chaddr: bytes, xid: int) -> bytes:
    bootp = struct.pack("!BBBBIHH", 1, 1, 6, 0, xid, 0, 0x8000) + b"\x00" * 16
    bootp += chaddr + b"\x00" * 10 + b"\x00" * 192
    bootp += b"\x63\x82\x53\x63" + bytes([53, 1, 1, 255])
    return ipv4("0.0.0.0", "255.255.255.255", 17, udp(68, 67, bootp))


def mac(i: int) -> str:
    return "02:" + ":".join(f"{b:02x}" for b in i.to_bytes(5, "big"))


def run(frames: list[tuple[float, bytes]]) -> list[Alert]:
    engine = DetectionEngine(only=["dhcp"], model=False)
    alerts: list[Alert] = []
    for view in frames_views(frames, per_batch=100):
        alerts.extend(engine.observe(view))
    return alerts + engine.finish()


def test_one_sender_many_client_addresses() -> None:
    attacker = "02:de:ad:00:00:01"
    frames = [
        (
            100.0 + i * 0.01,
            ether(
                attacker,
                "ff:ff:ff:ff:ff:ff",
                0x0800,
                discover(bytes.fromhex(mac(i + 1).replace(":", "")), i),
            ),
        )
        for i in range(300)
    ]
    alerts = run(frames)
    assert [a.category for a in alerts] == [Category.DHCP_STARVATION]
    assert alerts[0].devices == [attacker]
    assert alerts[0].counts["client_addresses"] == 300


def test_forged_senders_are_caught_network_wide() -> None:
    frames = []
    for i in range(300):
        forged = mac(1000 + i)
        frames.append(
            (
                200.0 + i * 0.01,
                ether(
                    forged,
                    "ff:ff:ff:ff:ff:ff",
                    0x0800,
                    discover(bytes.fromhex(forged.replace(":", "")), i),
                ),
            )
        )
    alerts = run(frames)
    assert [(a.category, a.name) for a in alerts] == [
        (Category.DHCP_STARVATION, "DHCP starvation (forged senders)")
    ]
    assert alerts[0].counts["senders"] == 300


def test_a_few_clients_renewing_are_silent() -> None:
    frames = []
    for i in range(20):
        client = mac(5000 + i % 5)
        frames.append(
            (
                300.0 + i * 30,
                ether(
                    client,
                    "ff:ff:ff:ff:ff:ff",
                    0x0800,
                    discover(bytes.fromhex(client.replace(":", "")), i),
                ),
            )
        )
    assert run(frames) == []
