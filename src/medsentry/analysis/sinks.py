"""Where analysis results go: JSON-lines files in ``--out DIR`` and the store."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from medsentry.flows.record import FlowRecord
from medsentry.inventory.device import Device
from medsentry.output.jsonl import (
    ALERTS_FILE,
    DEVICES_FILE,
    EVENTS_FILE,
    FLOWS_FILE,
    JsonlWriter,
    to_jsonable,
)
from medsentry.protocols.base import ProtocolEvent
from medsentry.store import repository
from medsentry.store.alerts import save_alerts
from medsentry.store.db import Store

FINGERPRINT_SPAN = 1 << 20


def capture_fingerprint(path: str | Path) -> str:
    """A stable identity for a capture file: SHA-256 over its size, first and last MiB.

    Hashing whole multi-gigabyte captures would cost more than analysing them; the
    head and tail carry the first and last packets' timestamps, so two different
    captures practically never share all three.
    """
    p = Path(path)
    size = p.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with p.open("rb") as fh:
        digest.update(fh.read(FINGERPRINT_SPAN))
        if size > FINGERPRINT_SPAN:
            fh.seek(max(size - FINGERPRINT_SPAN, FINGERPRINT_SPAN), os.SEEK_SET)
            digest.update(fh.read(FINGERPRINT_SPAN))
    return digest.hexdigest()


def alert_json(alert: Any) -> dict[str, Any]:
    to_json = getattr(alert, "to_json", None)
    data = to_json() if callable(to_json) else to_jsonable(alert)
    return dict(data)


class JsonlSink:
    """flows.jsonl, events.jsonl, alerts.jsonl and devices.jsonl in one folder."""

    def __init__(self, out_dir: str | Path) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._flows = JsonlWriter(self.dir / FLOWS_FILE)
        self._events = JsonlWriter(self.dir / EVENTS_FILE)
        self._alerts = JsonlWriter(self.dir / ALERTS_FILE)
        self._devices: JsonlWriter | None = None

    def flows(self, records: list[FlowRecord]) -> None:
        for rec in records:
            self._flows.write(rec.to_zeek())

    def events(self, events: list[ProtocolEvent]) -> None:
        for event in events:
            self._events.write(event.to_json())

    def alerts(self, alerts: list[Any]) -> None:
        for alert in alerts:
            self._alerts.write(alert_json(alert))

    def devices(self, devices: list[Device]) -> None:
        if self._devices is None:
            self._devices = JsonlWriter(self.dir / DEVICES_FILE)
        for device in devices:
            self._devices.write(device.to_json())

    def close(self) -> None:
        for writer in (self._flows, self._events, self._alerts, self._devices):
            if writer is not None:
                writer.close()


class StoreSink:
    """Writes results to the store in bulk, buffering between batches."""

    def __init__(self, store: Store, capture_id: int, buffer_rows: int = 20000) -> None:
        self.store = store
        self.capture_id = capture_id
        self.buffer_rows = buffer_rows
        self._flows: list[FlowRecord] = []
        self._events: list[ProtocolEvent] = []
        self._alerts: list[Any] = []

    def flows(self, records: list[FlowRecord]) -> None:
        self._flows += records
        if len(self._flows) >= self.buffer_rows:
            self._flush_flows()

    def events(self, events: list[ProtocolEvent]) -> None:
        self._events += events
        if len(self._events) >= self.buffer_rows:
            self._flush_events()

    def alerts(self, alerts: list[Any]) -> None:
        self._alerts += alerts

    def devices(self, devices: list[Device]) -> None:
        repository.save_devices(self.store, devices, self.capture_id)

    def _flush_flows(self) -> None:
        if self._flows:
            repository.save_flows(self.store, self._flows, self.capture_id)
            self._flows = []

    def _flush_events(self) -> None:
        if self._events:
            repository.save_events(self.store, self._events, self.capture_id)
            self._events = []

    def _flush_alerts(self) -> None:
        if self._alerts:
            save_alerts(self.store, [alert_json(a) for a in self._alerts], self.capture_id)
            self._alerts = []

    def close(self) -> None:
        self._flush_flows()
        self._flush_events()
        self._flush_alerts()
