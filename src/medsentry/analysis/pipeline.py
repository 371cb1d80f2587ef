"""The analysis pipeline: capture batches -> decode -> flows -> protocols -> inventory
-> detection, with results handed to sinks (JSON-lines files, the store).

The same ``Analysis`` object serves capture files and live interfaces: it only sees
batches. Errors in the input end the input, never the analysis: what was decoded
before a damaged record is kept, finished and reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from medsentry.analysis.applayer import AppLayer, ClassifyFn, EvidenceFn
from medsentry.capture.batch import SUPPORTED_LINKTYPES, PacketBatch, check_linktypes
from medsentry.capture.open import open_capture
from medsentry.decode.columns import L3_ARP, L3_IPV4, L3_IPV6, DecodedBatch
from medsentry.decode.packets import decode_batch
from medsentry.errors import CaptureError, UnsupportedCaptureError
from medsentry.flows.export import to_records
from medsentry.flows.record import FlowRecord
from medsentry.flows.table import BatchFlows, FlowColumns, FlowTable, FlowTimeouts
from medsentry.inventory.device import Device
from medsentry.inventory.tracker import InventoryTracker
from medsentry.protocols.base import ProtocolEvent


def _no_flows() -> BatchFlows:
    empty = np.zeros(0, np.int64)
    return BatchFlows(empty, empty, np.zeros(0, np.int8), np.zeros(0, np.uint64))


class Sink(Protocol):
    """Where results go. Every method may be called many times, ``close`` once."""

    def flows(self, records: list[FlowRecord]) -> None: ...

    def events(self, events: list[ProtocolEvent]) -> None: ...

    def alerts(self, alerts: list[Any]) -> None: ...

    def devices(self, devices: list[Device]) -> None: ...

    def close(self) -> None: ...


class BatchObserver(Protocol):
    """A later stage that looks at every batch (detectors)."""

    def observe_batch(
        self,
        decoded: DecodedBatch,
        flows: BatchFlows,
        closed: list[FlowRecord],
        events: list[ProtocolEvent],
    ) -> list[Any]: ...

    def finish(self, devices: list[Device]) -> list[Any]: ...


@dataclass(slots=True)
class AnalysisOptions:
    timeouts: FlowTimeouts = field(default_factory=FlowTimeouts)
    max_flows: int = 1_000_000
    protocols: bool = True  # run the application-protocol analyzers
    chunk_size: int = 16 << 20
    # Device identification from protocol evidence (see medsentry.inventory.identify).
    evidence: EvidenceFn | None = None
    classify: ClassifyFn | None = None


@dataclass(slots=True)
class AnalysisStats:
    packets: int = 0
    bytes: int = 0
    ip_packets: int = 0
    arp_packets: int = 0
    other_packets: int = 0
    unsupported_packets: int = 0
    fragments: int = 0
    flows: int = 0
    events: int = 0
    phi_events: int = 0
    alerts: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    errors: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


class Analysis:
    """One analysis run over any number of inputs."""

    def __init__(
        self,
        sinks: Iterable[Sink] = (),
        options: AnalysisOptions | None = None,
        observers: Iterable[BatchObserver] = (),
    ) -> None:
        self.options = options or AnalysisOptions()
        self.sinks = list(sinks)
        self.observers = list(observers)
        self.table = FlowTable(self.options.timeouts, max_flows=self.options.max_flows)
        self.inventory = InventoryTracker()
        self.app = (
            AppLayer(self.options.evidence, self.options.classify)
            if self.options.protocols
            else None
        )
        self.stats = AnalysisStats()
        self._started = time.perf_counter()
        self._devices: list[Device] | None = None
        # Alerts are one per attack episode, so keeping them for the summary stays small.
        self.alerts: list[Any] = []

    # -- input -------------------------------------------------------------------------
    def feed(self, batch: PacketBatch) -> None:
        """Analyse one batch of packets."""
        if not len(batch):
            return
        st = self.stats
        st.packets += len(batch)
        st.bytes += batch.nbytes
        lo, hi = float(batch.ts.min()), float(batch.ts.max())
        st.first_ts = lo if st.first_ts is None else min(st.first_ts, lo)
        st.last_ts = hi if st.last_ts is None else max(st.last_ts, hi)
        supported = np.isin(batch.linktype, list(SUPPORTED_LINKTYPES))
        if not supported.all():
            st.unsupported_packets += int((~supported).sum())
        d = decode_batch(batch)
        st.ip_packets += int(((d.l3 == L3_IPV4) | (d.l3 == L3_IPV6)).sum())
        st.arp_packets += int((d.l3 == L3_ARP).sum())
        flows, closed_cols = self.table.update(d)
        # Devices learn this batch's addresses before its finished flows are attributed.
        self.inventory.observe(d)
        events = self.app.observe(d, flows, self.table) if self.app else []
        closed = self._close(closed_cols, events)
        self._emit_events(events)
        alerts: list[Any] = []
        for observer in self.observers:
            alerts += observer.observe_batch(d, flows, closed, events)
        self._emit_alerts(alerts)

    def idle(self, now: float) -> None:
        """Live input with no packets for a while: flows and episodes that went quiet
        by ``now`` end, as they would have if a packet had arrived."""
        events: list[ProtocolEvent] = []
        closed = self._close(self.table.advance(now), events)
        self._emit_events(events)
        alerts: list[Any] = []
        if closed or events:
            empty = decode_batch(PacketBatch.empty())
            for observer in self.observers:
                alerts += observer.observe_batch(empty, _no_flows(), closed, events)
        for observer in self.observers:
            on_idle = getattr(observer, "idle", None)
            if callable(on_idle):
                alerts += on_idle(now)
        self._emit_alerts(alerts)

    def _close(self, cols: FlowColumns, events: list[ProtocolEvent]) -> list[FlowRecord]:
        if not len(cols):
            return []
        if self.app is not None:
            events += self.app.close_flows(cols)
        records = to_records(cols)
        if self.app is not None:
            self.app.label(records)
        self.inventory.observe_flows(records)
        self.stats.flows += len(records)
        for sink in self.sinks:
            sink.flows(records)
        return records

    def _emit_events(self, events: list[ProtocolEvent]) -> None:
        if not events:
            return
        self.stats.events += len(events)
        self.stats.phi_events += sum(1 for e in events if e.phi)
        if self.app is not None:
            self.app.attach_evidence(events, self.inventory)
        for sink in self.sinks:
            sink.events(events)

    def _emit_alerts(self, alerts: list[Any]) -> None:
        if not alerts:
            return
        self.stats.alerts += len(alerts)
        self.alerts += alerts
        for sink in self.sinks:
            sink.alerts(alerts)

    def analyze_file(
        self, path: str | Path, progress: Callable[[int, int], None] | None = None
    ) -> None:
        """Analyse a capture file; a damaged file is reported, its good part kept."""
        self.stats.sources.append(str(path))
        try:
            reader = open_capture(path, self.options.chunk_size)
        except (CaptureError, UnsupportedCaptureError) as exc:
            self.stats.errors.append(str(exc))
            raise
        try:
            for batch in reader.batches():
                check_linktypes(str(path), np.unique(batch.linktype))
                self.feed(batch)
                if progress is not None:
                    progress(reader.source.raw_position, len(batch))
        except CaptureError as exc:
            self.stats.errors.append(str(exc))
        finally:
            reader.source.close()

    # -- end ---------------------------------------------------------------------------
    def finish(self) -> AnalysisStats:
        """Close every flow, report devices, flush observers and sinks."""
        events: list[ProtocolEvent] = []
        closed = self._close(self.table.flush(), events)
        if self.app is not None:
            events += self.app.finish()
        self._emit_events(events)
        devices = self.devices()
        alerts: list[Any] = []
        if self.observers:
            empty = decode_batch(PacketBatch.empty())
            for observer in self.observers:
                alerts += observer.observe_batch(empty, _no_flows(), closed, [])
                alerts += observer.finish(devices)
        self._emit_alerts(alerts)
        for sink in self.sinks:
            sink.devices(devices)
            sink.close()
        self.stats.fragments = self.table.fragments.fragments
        self.stats.other_packets = (
            self.stats.packets
            - self.stats.ip_packets
            - self.stats.arp_packets
            - self.stats.unsupported_packets
        )
        self.stats.elapsed = time.perf_counter() - self._started
        return self.stats

    def devices(self) -> list[Device]:
        if self._devices is None:
            devices = self.inventory.finish()
            if self.app is not None:
                self.app.classify(devices)
            self._devices = devices
        return self._devices
