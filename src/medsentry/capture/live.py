"""Live capture from a network interface through libpcap (pcapy-ng), in batches.

Packets are grouped into batches by count or by time, whichever comes first, so the
same pipeline serves files and interfaces. Ctrl-C (KeyboardInterrupt) ends the capture
cleanly: the packets already received are still delivered as a last batch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from medsentry.capture.batch import SUPPORTED_LINKTYPES, PacketBatch, linktype_name
from medsentry.capture.writer import PcapWriter
from medsentry.errors import InputError, UnsupportedCaptureError


@dataclass(slots=True)
class LiveOptions:
    interface: str
    bpf: str = ""
    snaplen: int = 65535
    promiscuous: bool = True
    batch_packets: int = 10_000
    batch_seconds: float = 1.0
    max_packets: int = 0  # 0: until interrupted
    max_seconds: float = 0.0  # 0: until interrupted


class LiveCapture:
    """Reads packets from an interface; ``batches()`` yields until stopped."""

    def __init__(self, options: LiveOptions, write_to: str | None = None) -> None:
        try:
            import pcapy  # the maintained libpcap binding (pcapy-ng)
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise InputError(
                "live capture needs the pcapy-ng package: pip install 'medsentry[live]'"
            ) from exc
        self.options = options
        try:
            # A short read timeout lets time-based batching and Ctrl-C work on quiet links.
            self._pcap = pcapy.open_live(
                options.interface, options.snaplen, options.promiscuous, 100
            )
        except pcapy.PcapError as exc:
            raise InputError(
                f"cannot capture on {options.interface!r}: {exc} (does it exist? are you root?)"
            ) from exc
        if options.bpf:
            try:
                self._pcap.setfilter(options.bpf)
            except pcapy.PcapError as exc:
                raise InputError(f"invalid capture filter {options.bpf!r}: {exc}") from exc
        self.linktype = int(self._pcap.datalink())
        if self.linktype not in SUPPORTED_LINKTYPES:
            raise UnsupportedCaptureError(
                f"{options.interface}: {linktype_name(self.linktype)} interfaces are not supported"
            )
        self._writer = PcapWriter(write_to, linktype=self.linktype) if write_to else None
        self.packets = 0
        self.interrupted = False

    def batches(self) -> Iterator[PacketBatch]:
        opts = self.options
        started = time.monotonic()
        packets: list[bytes] = []
        stamps: list[float] = []
        wire: list[int] = []
        batch_start = time.monotonic()
        try:
            while True:
                header, data = self._pcap.next()
                if header is not None and data is not None:
                    sec, usec = header.getts()
                    ts = sec + usec * 1e-6
                    packets.append(bytes(data))
                    stamps.append(ts)
                    wire.append(header.getlen())
                    self.packets += 1
                    if self._writer is not None:
                        self._writer.write(ts, bytes(data), header.getlen())
                now = time.monotonic()
                full = len(packets) >= opts.batch_packets
                due = now - batch_start >= opts.batch_seconds
                if packets and (full or due):
                    yield self._batch(packets, stamps, wire)
                    packets, stamps, wire = [], [], []
                    batch_start = now
                if opts.max_packets and self.packets >= opts.max_packets:
                    break
                if opts.max_seconds and now - started >= opts.max_seconds:
                    break
        except KeyboardInterrupt:
            self.interrupted = True
        if packets:
            yield self._batch(packets, stamps, wire)

    def _batch(self, packets: list[bytes], stamps: list[float], wire: list[int]) -> PacketBatch:
        batch = PacketBatch.from_packets(packets, stamps, self.linktype)
        for i, length in enumerate(wire):
            batch.wirelen[i] = max(length, int(batch.caplen[i]))
        batch.first_index = self.packets - len(packets)
        return batch

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
