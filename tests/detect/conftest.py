"""Helpers for detector tests: run the engine over a capture of the reference corpus."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from medsentry.detect.base import Alert
from medsentry.detect.engine import DetectionEngine
from tests.detect.views import capture_views

Analyse = Callable[..., list[Alert]]


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
            engine = DetectionEngine(model=model)
            alerts: list[Alert] = []
            for view in capture_views(pcaps / rel):
                alerts.extend(engine.observe(view))
            alerts.extend(engine.finish())
            cache[key] = alerts
        return cache[key]

    return run
