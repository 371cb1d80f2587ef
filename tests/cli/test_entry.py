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


def test_every_mapped_command_lives_where_the_map_says() -> None:
    import importlib

    import typer.main

    from medsentry.cli import COMMAND_HOMES, app

    for module in set(COMMAND_HOMES.values()):
        importlib.import_module(f"medsentry.cli.{module}")
    group = typer.main.get_command(app)
    names = set(group.commands)  # type: ignore[attr-defined]
    assert set(COMMAND_HOMES) <= names


def test_a_single_command_runs_with_only_its_family_loaded() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "from medsentry.cli import main; main()", "devices", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "devices" in out.stdout
