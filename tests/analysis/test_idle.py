"""Live capture with no traffic still closes attack episodes that went quiet."""

from __future__ import annotations

from pathlib import Path

from medsentry.analysis.pipeline import Analysis
from medsentry.capture.open import open_capture
from medsentry.detect.observer import DetectionObserver


class Collect:
    def __init__(self) -> None:
        self.got: list[object] = []

    def flows(self, records: list[object]) -> None: ...

    def events(self, events: list[object]) -> None: ...

    def devices(self, devices: list[object]) -> None: ...

    def alerts(self, alerts: list[object]) -> None:
        self.got.extend(alerts)

    def close(self) -> None: ...


def test_idle_time_ends_a_quiet_scan_episode(corpus: Path) -> None:
    sink = Collect()
    analysis = Analysis([sink], observers=[DetectionObserver()])  # type: ignore[list-item]
    last = 0.0
    for batch in open_capture(corpus / "pcaps" / "portscan" / "ppa3_synscan.pcapng").batches():
        analysis.feed(batch)
        last = float(batch.ts.max())
    assert not sink.got  # the episode is still open: the scanner might go on
    analysis.idle(last + 6 * 3600)  # hours of silence on the wire
    categories = [getattr(a, "category", None) for a in sink.got]
    assert [str(c) for c in categories] == ["recon_port_scan"]
