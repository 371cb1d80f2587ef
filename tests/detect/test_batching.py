"""Detection does not depend on how the input is cut into batches: the same capture read
in one piece or in many small chunks gives the same alerts (ids, times, counts), the
property that makes file analysis and live capture agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from medsentry.analysis.pipeline import Analysis, AnalysisOptions
from medsentry.detect.engine import DetectionEngine
from medsentry.detect.observer import DetectionObserver

pytestmark = pytest.mark.corpus


def alerts_with_chunks(path: Path, chunk_size: int) -> list[dict[str, object]]:
    observer = DetectionObserver(DetectionEngine(model=False))
    analysis = Analysis(options=AnalysisOptions(chunk_size=chunk_size), observers=[observer])
    analysis.analyze_file(path)
    analysis.finish()
    return sorted(
        (
            {k: a.to_json()[k] for k in ("id", "category", "ts_start", "ts_end", "counts")}
            for a in observer.alerts
        ),
        key=lambda row: str(row["id"]),
    )


@pytest.mark.parametrize(
    "rel",
    [
        "dos/stopddos_pkt.TCP.DOMINATE.syn.ecn.cwr.pcapng",
        "portscan/ncsa_simple_scan/445_scan.pcap",
        "bruteforce/zeek_ftp_bruteforce.pcap",
        "arp/sgr_hs-arpScan.pcap",
    ],
)
def test_small_chunks_give_the_same_alerts(pcaps: Path, rel: str) -> None:
    whole = alerts_with_chunks(pcaps / rel, 16 << 20)
    assert whole
    assert alerts_with_chunks(pcaps / rel, 8 << 10) == whole
