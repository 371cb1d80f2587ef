"""Fixtures of the compliance tests: fresh stores, and the demo capture analysed once."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from medsentry.store.db import Store

REPO = Path(__file__).resolve().parents[2]
DEMO_PCAP = REPO / "src" / "medsentry" / "examples" / "hospital_demo.pcap"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="session")
def demo_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo capture analysed once by the real pipeline (`medsentry analyze`)."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from medsentry.cli import main; sys.argv[0] = 'medsentry'; main()",
            "analyze",
            str(DEMO_PCAP),
            "--db",
            f"sqlite:///{path}",
            "--quiet",
        ],
        check=True,
        capture_output=True,
        cwd=REPO,
    )
    return path


@pytest.fixture
def demo_store(demo_db_template: Path, tmp_path: Path) -> Iterator[Store]:
    """A private copy of the analysed demo store."""
    target = tmp_path / "demo.db"
    shutil.copy(demo_db_template, target)
    opened = Store(f"sqlite:///{target}")
    try:
        yield opened
    finally:
        opened.close()
