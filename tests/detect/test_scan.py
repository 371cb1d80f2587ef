"""Scan shapes the corpus lacks, on hand-built packets: an IP protocol scan, an XMAS scan,
and backscatter (SYN-ACKs and RSTs from someone else's flood victim), which is no scan."""

from __future__ import annotations

from medsentry.detect.base import Alert, Category
from medsentry.detect.engine import DetectionEngine
from tests.detect.views import frames_views
from tests.packets import ACK, FIN, PSH, RST, SYN, ether, ipv4, tcp

A, B = "02:00:00:00:00:01", "02:00:00:00:00:02"
URG = 0x20


def run(frames: list[tuple[float, bytes]]) -> list[Alert]:
    engine = DetectionEngine(only=["scan", "flood"], model=False)
    alerts: list[Alert] = []
    for view in frames_views(frames, per_batch=16):
        alerts.extend(engine.observe(view))
    return alerts + engine.finish()


def test_ip_protocol_scan() -> None:
    protocols = [p for p in range(2, 40) if p not in (6, 17)]
    frames = [
        (1.0 + p * 0.01, ether(A, B, 0x0800, ipv4("10.0.0.5", "10.0.0.9", p, b"\x00" * 8)))
        for p in protocols
    ]
    alerts = run(frames)
    assert [(a.category, a.name, a.src, a.dst) for a in alerts] == [
        (Category.RECON_PORT_SCAN, "IP protocol scan", "10.0.0.5", "10.0.0.9")
    ]
    assert alerts[0].counts["protocols"] == len(protocols)


def test_xmas_scan() -> None:
    frames = [
        (
            1.0 + i * 0.01,
            ether(
                A, B, 0x0800, ipv4("10.0.0.5", "10.0.0.9", 6, tcp(40000, 1 + i, FIN | PSH | URG))
            ),
        )
        for i in range(30)
    ]
    alerts = run(frames)
    assert [(a.category, a.src, a.dst) for a in alerts] == [
        (Category.RECON_PORT_SCAN, "10.0.0.5", "10.0.0.9")
    ]
    assert alerts[0].counts["ports"] == 30


def test_backscatter_is_no_scan_and_no_flood() -> None:
    """A flood victim answers spoofed SYNs that carried our addresses: SYN-ACKs and RSTs
    to many of our hosts and ports, at a high rate."""
    frames = []
    for i in range(600):
        flags = SYN | ACK if i % 2 else RST | ACK
        dst = f"192.150.{i % 7}.{i % 250 + 1}"
        pkt = ipv4("203.0.113.80", dst, 6, tcp(80, 1024 + i, flags, seq=i, ack=i))
        frames.append((10.0 + i * 0.001, ether(A, B, 0x0800, pkt)))
    assert run(frames) == []
