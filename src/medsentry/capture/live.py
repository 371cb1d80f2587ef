"""Live capture from a network interface through libpcap (pcapy-ng), in batches.

Packets are grouped into batches by count or by time, whichever comes first, so the
same pipeline serves files and interfaces. Ctrl-C (KeyboardInterrupt) ends the capture
cleanly: the packets already received are still delivered as a last batch.
"""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from medsentry.capture.batch import READ_SLACK, PacketBatch, check_linktypes
from medsentry.capture.writer import PcapWriter
from medsentry.errors import InputError


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
        check_linktypes(options.interface, [self.linktype])
        self._writer = PcapWriter(write_to, linktype=self.linktype) if write_to else None
        self.packets = 0
        self.interrupted = False

    def batches(self) -> Iterator[PacketBatch]:
        """Batches until a limit is reached or Ctrl-C; the last partial batch is kept."""
        opts = self.options
        started = time.monotonic()
        pending: list[PacketBatch] = []
        pending_packets = 0
        batch_start = started
        # Non-blocking reads behind select(): libpcap's own timeout may never fire on an
        # idle link, which would leave Ctrl-C unanswered.
        self._pcap.setnonblock(1)
        fd = self._pcap.getfd()
        try:
            while True:
                if select.select([fd], [], [], 0.1)[0]:
                    got = self._read_available(opts.batch_packets)
                    if got is not None:
                        pending.append(got)
                        pending_packets += len(got)
                now = time.monotonic()
                due = now - batch_start >= opts.batch_seconds
                if pending and (pending_packets >= opts.batch_packets or due):
                    yield self._merge(pending)
                    pending, pending_packets, batch_start = [], 0, now
                elif due and not pending:
                    # An empty batch tells the consumer time passed with no traffic.
                    yield PacketBatch.empty()
                    batch_start = now
                if opts.max_packets and self.packets >= opts.max_packets:
                    break
                if opts.max_seconds and now - started >= opts.max_seconds:
                    break
        except KeyboardInterrupt:
            self.interrupted = True
        if pending:
            yield self._merge(pending)

    def _read_available(self, limit: int) -> PacketBatch | None:
        """Every packet libpcap holds now (up to ``limit``), in one call."""
        want = limit
        if self.options.max_packets:
            want = min(want, self.options.max_packets - self.packets)
        if want <= 0:
            return None
        data, meta = self._pcap.next_batch(want)
        if not meta:
            return None
        rec = np.frombuffer(meta, dtype=np.uint32).reshape(-1, 4)
        caplen = rec[:, 3].astype(np.int32)
        batch = PacketBatch(
            data=bytes(data) + bytes(READ_SLACK),
            ts=rec[:, 0].astype(np.float64) + rec[:, 1].astype(np.float64) * 1e-6,
            offset=rec[:, 2].astype(np.int64),
            caplen=caplen,
            wirelen=caplen.copy(),
            linktype=np.full(len(rec), self.linktype, np.uint16),
            first_index=self.packets,
        )
        self.packets += len(batch)
        if self._writer is not None:
            for i in range(len(batch)):
                self._writer.write(float(batch.ts[i]), batch.packet(i))
        return batch

    @staticmethod
    def _merge(parts: list[PacketBatch]) -> PacketBatch:
        if len(parts) == 1:
            return parts[0]
        packets = [p.packet(i) for p in parts for i in range(len(p))]
        stamps = np.concatenate([p.ts for p in parts])
        merged = PacketBatch.from_packets(packets, stamps.tolist(), int(parts[0].linktype[0]))
        merged.first_index = parts[0].first_index
        return merged

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
