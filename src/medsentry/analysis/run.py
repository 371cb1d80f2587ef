"""One analysis of one capture into the store and/or JSON-lines files.

The command line (``medsentry analyze``) and the web upload job both call
``analyze_capture``, so a capture gives the same flows, devices, events and alerts
whichever way it arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medsentry.analysis.pipeline import (
    Analysis,
    AnalysisOptions,
    AnalysisStats,
    BatchObserver,
    Sink,
)
from medsentry.analysis.sinks import JsonlSink, StoreSink, capture_fingerprint
from medsentry.detect.observer import DetectionObserver
from medsentry.errors import MedSentryError
from medsentry.inventory.device import Device
from medsentry.inventory.identify import classify, evidence_from_event
from medsentry.store import repository
from medsentry.store.alerts import load_baselines, save_baselines
from medsentry.store.db import Store

ProgressFn = Callable[[int, int], None]  # (bytes of the file read, packets in the batch)


@dataclass(slots=True)
class RunResult:
    capture_id: int | None
    stats: AnalysisStats
    devices: list[Device]
    alerts: list[Any]


def analysis_options(protocols: bool = True) -> AnalysisOptions:
    """Protocol analyzers and device identification, unless protocols are off."""
    return AnalysisOptions(protocols=protocols, evidence=evidence_from_event, classify=classify)


class AnalysisRun:
    """One analysis with its bookkeeping: the capture row in the store, the sinks, the
    detectors with the baselines they carry between runs. Files and live interfaces
    both go through it, so they produce the same records."""

    def __init__(
        self,
        name: str,
        fingerprint: str,
        *,
        store: Store | None = None,
        out_dir: Path | None = None,
        protocols: bool = True,
        detect: bool = True,
        extra_sinks: Sequence[Sink] = (),
    ) -> None:
        self.name = name
        self.fingerprint = fingerprint
        self.store = store
        self.capture_id = None
        sinks: list[Sink] = []
        if store is not None:
            self.capture_id = repository.record_capture(
                store, fingerprint, name, 0, 0, None, None, status="running"
            )
            sinks.append(StoreSink(store, self.capture_id))
        if out_dir is not None:
            sinks.append(JsonlSink(out_dir))
        self.sinks = [*sinks, *extra_sinks]
        self.detection = DetectionObserver() if detect else None
        if self.detection is not None and store is not None:
            # Device baselines learnt from earlier captures carry over to this one.
            self.detection.engine.load_baselines(load_baselines(store))
        observers: list[BatchObserver] = [self.detection] if self.detection else []
        self.analysis = Analysis(self.sinks, analysis_options(protocols), observers)

    def fail(self, exc: MedSentryError) -> None:
        """The input could not be read at all: close outputs, mark the capture failed."""
        for sink in self.sinks:
            sink.close()
        if self.store is not None:
            repository.record_capture(
                self.store, self.fingerprint, self.name, 0, 0, None, None,
                status="failed", error=str(exc),
            )  # fmt: skip

    def complete(self) -> RunResult:
        stats = self.analysis.finish()
        if self.store is not None:
            if self.detection is not None:
                save_baselines(self.store, self.detection.engine.baselines_json())
            repository.record_capture(
                self.store,
                self.fingerprint,
                self.name,
                stats.packets,
                stats.bytes,
                stats.first_ts,
                stats.last_ts,
                status="partial" if stats.errors else "complete",
                error="; ".join(stats.errors) or None,
            )
        return RunResult(self.capture_id, stats, self.analysis.devices(), self.analysis.alerts)


def analyze_capture(
    path: Path,
    *,
    store: Store | None = None,
    out_dir: Path | None = None,
    label: str | None = None,
    protocols: bool = True,
    detect: bool = True,
    progress: ProgressFn | None = None,
    extra_sinks: Sequence[Sink] = (),
) -> RunResult:
    """Analyse ``path``; a damaged file is reported in ``stats.errors`` with its good
    part kept; a file that cannot be read at all raises ``MedSentryError``."""
    run = AnalysisRun(
        label or str(path),
        capture_fingerprint(path),
        store=store,
        out_dir=out_dir,
        protocols=protocols,
        detect=detect,
        extra_sinks=extra_sinks,
    )
    try:
        run.analysis.analyze_file(path, progress)
    except MedSentryError as exc:
        run.fail(exc)
        raise
    return run.complete()
