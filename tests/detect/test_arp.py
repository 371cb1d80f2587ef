"""ARP spoofing on hand-built traffic, including the case where the gateway's real MAC is
only ever seen as the next hop of IP packets (never in ARP)."""

from __future__ import annotations

import ipaddress
import struct

from medsentry.detect.base import Alert, Category
from medsentry.detect.engine import DetectionEngine
from tests.detect.views import frames_views
from tests.packets import ACK, PSH, ether, ipv4, mac, tcp

VICTIM_IP, VICTIM_MAC = "172.16.0.107", "00:21:70:c0:56:f0"
GATEWAY_IP, GATEWAY_MAC = "172.16.0.1", "00:26:0b:31:07:33"
ATTACKER_IP, ATTACKER_MAC = "172.16.0.105", "00:25:b3:bf:91:ee"
WEB = "93.184.216.34"


def arp(op: int, sha: str, spa: str, tha: str, tpa: str, eth_dst: str) -> bytes:
    body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op)
    body += mac(sha) + ipaddress.IPv4Address(spa).packed
    body += mac(tha) + ipaddress.IPv4Address(tpa).packed
    return ether(sha, eth_dst, 0x0806, body)


def web(t: float, dmac: str, seq: int) -> tuple[float, bytes]:
    pkt = ipv4(VICTIM_IP, WEB, 6, tcp(50000, 80, ACK | PSH, seq, 1, b"GET / HTTP/1.1\r\n\r\n"))
    return t, ether(VICTIM_MAC, dmac, 0x0800, pkt)


def run(frames: list[tuple[float, bytes]], per_batch: int = 0) -> list[Alert]:
    engine = DetectionEngine(only=["arp"], model=False)
    alerts: list[Alert] = []
    for view in frames_views(frames, per_batch):
        alerts.extend(engine.observe(view))
    return alerts + engine.finish()


def poisoning() -> list[tuple[float, bytes]]:
    frames = [web(1.0 + i, GATEWAY_MAC, 100 * i) for i in range(20)]  # via the real gateway
    broadcast = "ff:ff:ff:ff:ff:ff"
    frames.append(
        (30.0, arp(1, ATTACKER_MAC, ATTACKER_IP, "00:00:00:00:00:00", VICTIM_IP, broadcast))
    )
    frames.append((30.01, arp(2, VICTIM_MAC, VICTIM_IP, ATTACKER_MAC, ATTACKER_IP, ATTACKER_MAC)))
    # The forged reply: "the gateway is at the attacker's MAC", sent unasked to the victim.
    frames.append((31.0, arp(2, ATTACKER_MAC, GATEWAY_IP, VICTIM_MAC, VICTIM_IP, VICTIM_MAC)))
    frames += [web(32.0 + i, ATTACKER_MAC, 5000 + 100 * i) for i in range(10)]  # diverted
    return frames


def test_poisoning_seen_only_through_next_hop_is_caught() -> None:
    alerts = run(poisoning())
    assert [a.category for a in alerts] == [Category.ARP_SPOOFING]
    alert = alerts[0]
    assert alert.src == ATTACKER_IP
    assert alert.dst == VICTIM_IP
    assert alert.evidence["attacker_mac"] == ATTACKER_MAC
    assert GATEWAY_IP in alert.evidence["claimed_ips"]
    assert VICTIM_MAC in alert.evidence["victim_macs"]
    assert alert.counts["redirected_packets"] == 10


def test_batch_boundaries_do_not_change_the_result() -> None:
    whole = run(poisoning())
    split = run(poisoning(), per_batch=3)
    assert [a.to_json() for a in split] == [a.to_json() for a in whole]


def test_ordinary_resolution_and_announcements_are_silent() -> None:
    broadcast = "ff:ff:ff:ff:ff:ff"
    frames = [web(1.0 + i, GATEWAY_MAC, 100 * i) for i in range(5)]
    for k in range(5):
        t = 10.0 + 60 * k
        frames.append(
            (t, arp(1, VICTIM_MAC, VICTIM_IP, "00:00:00:00:00:00", GATEWAY_IP, broadcast))
        )
        frames.append(
            (t + 0.001, arp(2, GATEWAY_MAC, GATEWAY_IP, VICTIM_MAC, VICTIM_IP, VICTIM_MAC))
        )
        # Gratuitous announcement of one's own address.
        frames.append(
            (t + 1, arp(1, ATTACKER_MAC, ATTACKER_IP, "00:00:00:00:00:00", ATTACKER_IP, broadcast))
        )
    assert run(frames) == []


def test_address_flipping_between_macs_is_caught() -> None:
    intruder = "02:aa:bb:cc:dd:ee"
    broadcast = "ff:ff:ff:ff:ff:ff"
    frames = []
    for k in range(5):
        t = 1.0 + 20 * k
        # The gateway asks, the real owner answers; the intruder then claims it back, unasked
        # and as a gratuitous announcement, so the address keeps changing hands.
        frames.append(
            (t, arp(1, GATEWAY_MAC, GATEWAY_IP, "00:00:00:00:00:00", VICTIM_IP, broadcast))
        )
        frames.append(
            (t + 0.01, arp(2, VICTIM_MAC, VICTIM_IP, GATEWAY_MAC, GATEWAY_IP, GATEWAY_MAC))
        )
        frames.append(
            (t + 5, arp(1, intruder, VICTIM_IP, "00:00:00:00:00:00", VICTIM_IP, broadcast))
        )
    alerts = run(frames)
    assert [a.category for a in alerts] == [Category.ARP_SPOOFING]
    assert alerts[0].evidence["attacker_mac"] == intruder
    assert alerts[0].counts["conflicts"] >= 4
