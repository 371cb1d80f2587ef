from __future__ import annotations

import subprocess
import sys

from medsentry import __version__


def test_version_flag_prints_version() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "from medsentry.cli import main; main()", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == __version__
