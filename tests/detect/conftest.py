"""Helpers for detector tests: run the whole analysis pipeline with the detection engine
over a capture of the reference corpus (so protocol events reach the detectors too)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from medsentry.analysis.pipeline import Analysis
from medsentry.detect.base import Alert
from medsentry.detect.engine import DetectionEngine
from medsentry.detect.observer import DetectionObserver

Analyse = Callable[..., list[Alert]]


def analyse_file(path: Path, model: bool = False) -> list[Alert]:
    observer = DetectionObserver(DetectionEngine(model=model))
    analysis = Analysis(observers=[observer])
    analysis.analyze_file(path)
    analysis.finish()
    return observer.alerts


@pytest.fixture(scope="session")
def pcaps(corpus: Path) -> Path:
    return corpus / "pcaps"


@pytest.fixture(scope="session")
def analyse(pcaps: Path) -> Analyse:
    """Alerts of one corpus capture (path relative to ``pcaps/``), rules only by default."""
    cache: dict[tuple[str, bool], list[Alert]] = {}

    def run(rel: str, model: bool = False) -> list[Alert]:
        key = (rel, model)
        if key not in cache:
            cache[key] = analyse_file(pcaps / rel, model)
        return cache[key]

    return run
