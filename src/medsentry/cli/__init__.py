"""Command-line entry point: thin, calls the layers below.

Each command family lives in its own module and is registered here.
"""

from __future__ import annotations

import sys

import typer

from medsentry import __version__
from medsentry.errors import MedSentryError

app = typer.Typer(
    name="medsentry",
    help="Security for connected medical devices: see, catch, know, prove, protect.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit(0)


def _register() -> None:
    # Command modules register themselves on import; keep one line per family.
    import medsentry.cli.catch
    import medsentry.cli.know
    import medsentry.cli.operate
    import medsentry.cli.protect
    import medsentry.cli.query  # noqa: F401
    from medsentry.cli import see  # noqa: F401


def main() -> None:
    _register()
    try:
        app()
    except MedSentryError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
