"""Fixtures for the Know tests: a fresh store and the vuln part of the corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from medsentry.store.db import Store


@pytest.fixture
def vuln_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'know.db'}")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="session")
def vuln_corpus(corpus: Path) -> Path:
    return corpus / "vuln"
