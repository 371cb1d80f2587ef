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
    name = label or str(path)
    fingerprint = capture_fingerprint(path)
    sinks: list[JsonlSink | StoreSink] = []
    capture_id = None
    if store is not None:
        capture_id = repository.record_capture(
            store, fingerprint, name, 0, 0, None, None, status="running"
        )
        sinks.append(StoreSink(store, capture_id))
    if out_dir is not None:
        sinks.append(JsonlSink(out_dir))
    sinks_all: list[Sink] = [*sinks, *extra_sinks]
    detection = DetectionObserver() if detect else None
    if detection is not None and store is not None:
        # Device baselines learnt from earlier captures carry over to this one.
        detection.engine.load_baselines(load_baselines(store))
    observers: list[BatchObserver] = [detection] if detection is not None else []
    analysis = Analysis(sinks_all, analysis_options(protocols), observers)
    try:
        analysis.analyze_file(path, progress)
    except MedSentryError as exc:
        for sink in sinks_all:
            sink.close()
        if store is not None:
            repository.record_capture(
                store, fingerprint, name, 0, 0, None, None, status="failed", error=str(exc)
            )
        raise
    stats = analysis.finish()
    if detection is not None and store is not None:
        save_baselines(store, detection.engine.baselines_json())
    if store is not None:
        repository.record_capture(
            store,
            fingerprint,
            name,
            stats.packets,
            stats.bytes,
            stats.first_ts,
            stats.last_ts,
            status="partial" if stats.errors else "complete",
            error="; ".join(stats.errors) or None,
        )
    return RunResult(capture_id, stats, analysis.devices(), analysis.alerts)
