"""Live capture on the loopback interface with a real libpcap (needs root, as CI has)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from medsentry.analysis.pipeline import Analysis
from medsentry.capture.live import LiveCapture, LiveOptions
from medsentry.capture.open import open_capture
from medsentry.errors import InputError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="live capture needs root")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _send(port: int, count: int) -> None:
    time.sleep(0.5)  # let the capture start
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for k in range(count):
            s.sendto(f"probe {k}".encode(), ("127.0.0.1", port))
            time.sleep(0.005)


def test_live_capture_with_filter_feeds_the_pipeline(tmp_path: Path) -> None:
    port = _free_udp_port()
    sender = threading.Thread(target=_send, args=(port, 20))
    saved = tmp_path / "live.pcap"
    live = LiveCapture(
        LiveOptions(
            "lo", bpf=f"udp port {port}", max_packets=20, max_seconds=20, batch_seconds=0.2
        ),
        str(saved),
    )
    analysis = Analysis()
    sender.start()
    for batch in live.batches():
        analysis.feed(batch)
    live.close()
    sender.join()
    stats = analysis.finish()
    assert stats.packets == 20 and stats.flows == 1
    # The saved copy holds exactly what was analysed.
    assert sum(len(b) for b in open_capture(saved).batches()) == 20


def test_ctrl_c_stops_the_cli_and_keeps_what_was_seen(tmp_path: Path) -> None:
    port = _free_udp_port()
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from medsentry.cli import main; main()",
            "capture",
            "-i",
            "lo",
            "-f",
            f"udp port {port}",
            "--no-store",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert "capturing on lo" in proc.stderr.readline()  # ready: libpcap is open
        _send(port, 5)
        time.sleep(1.5)  # a batch is cut every second
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    flows = [json.loads(line) for line in (out / "flows.jsonl").read_text().splitlines()]
    assert [(f["orig_pkts"], f["id.resp_p"]) for f in flows] == [(5, port)]


def test_bad_interface_and_filter_are_clear_errors() -> None:
    with pytest.raises(InputError, match="cannot capture on 'nosuchif0'"):
        LiveCapture(LiveOptions("nosuchif0"))
    with pytest.raises(InputError, match="invalid capture filter"):
        LiveCapture(LiveOptions("lo", bpf="this is not bpf"))
