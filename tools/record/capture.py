"""Record everything that crosses the ward bridge into a classic pcap file."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from tools.record.lab import RecordError
from tools.record.plan import BRIDGE, SWITCH_NS

# Time for the last FIN/ACKs to cross the bridge before the capture stops.
SETTLE_SECONDS = 0.6


class BridgeCapture:
    """tcpdump on the bridge, started and stopped around one scenario.

    The bridge is put in promiscuous mode by tcpdump, so it sees every frame forwarded
    between ports, like a SPAN port on a real switch.
    """

    def __init__(self, out: Path, log: Path) -> None:
        self.out = out
        self.log = log
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> BridgeCapture:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.unlink(missing_ok=True)
        self.log.unlink(missing_ok=True)
        argv = ["ip", "netns", "exec", SWITCH_NS, "tcpdump", "-i", BRIDGE, "-n", "-U"]
        argv += ["-s", "0", "-Z", "root", "--immediate-mode", "-w", str(self.out)]
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        self._wait_listening()
        return self

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RecordError(f"tcpdump exited early; see {self.log}")
            if b"listening on" in self.log.read_bytes():
                time.sleep(0.2)
                return
            time.sleep(0.05)
        raise RecordError(f"tcpdump did not start listening; see {self.log}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is None:
            return
        if exc_type is None:
            time.sleep(SETTLE_SECONDS)
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)
        self._proc = None
