"""Shared fixtures: the reference corpus and the PostgreSQL test server."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from medsentry.config import corpus_dir

# `make fuzz` runs the fuzz-marked tests with this profile; the default run stays short.
settings.register_profile("long", max_examples=5000, deadline=None)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared third-party data folder; skips locally if absent, fails in CI."""
    path = corpus_dir()
    if not (path / "README.md").exists():
        msg = f"reference corpus not found at {path} (set MEDSENTRY_CORPUS)"
        if _in_ci():
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """URL of the PostgreSQL test server's database (MEDSENTRY_TEST_PG)."""
    url = os.environ.get("MEDSENTRY_TEST_PG")
    if not url:
        msg = "MEDSENTRY_TEST_PG is not set; .ci/run starts a PostgreSQL server and sets it"
        if _in_ci():
            pytest.fail(msg)
        pytest.skip(msg)
    return url


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"medsentry_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(admin, name)
        admin.dispose()


def _drop_database(admin: Any, name: str) -> None:
    """Drop a test database; a connection a test left open may delay it a little."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    for attempt in range(10):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            return
        except DBAPIError:
            time.sleep(0.5 * (attempt + 1))
    # Still in use: the unique name keeps it from affecting any other test.
