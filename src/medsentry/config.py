"""Settings read from the environment, in one place."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB_URL = "sqlite:///medsentry.db"


def database_url(explicit: str | None = None) -> str:
    """The store URL: an explicit value, else ``MEDSENTRY_DB``, else a local SQLite file."""
    return explicit or os.environ.get("MEDSENTRY_DB") or DEFAULT_DB_URL


def corpus_dir() -> Path:
    """Where the shared third-party reference data lives (``MEDSENTRY_CORPUS``)."""
    env = os.environ.get("MEDSENTRY_CORPUS")
    if env:
        return Path(env)
    # The repository sits beside ``shared/``; resolve relative to the source tree.
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"
