"""Command-line entry point: thin, calls the layers below.

Each command family lives in its own module and is registered here.
"""

from __future__ import annotations

import importlib
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
    import medsentry.cli.prove
    import medsentry.cli.query  # noqa: F401
    from medsentry.cli import see  # noqa: F401


# Where each top-level command lives, so a run imports only the family it needs (the
# analysis path should not pay for the web server's or the update framework's imports).
# A command missing here still works: every family is imported then.
COMMAND_HOMES = {
    "analyze": "see",
    "capture": "see",
    "devices": "query",
    "flows": "query",
    "alerts": "catch",
    "baseline": "catch",
    "model": "catch",
    "sbom": "know",
    "advisories": "know",
    "findings": "know",
    "vex": "know",
    "serve": "operate",
    "users": "operate",
    "tokens": "operate",
    "firmware": "protect",
    "update": "protect",
    "integrity": "protect",
    "compliance": "prove",
    "mds2": "prove",
    "recalls": "prove",
    "readiness": "prove",
    "report": "prove",
}


def _register_for(argv: list[str]) -> None:
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    home = COMMAND_HOMES.get(command or "")
    if home is None:
        _register()
    else:
        importlib.import_module(f"medsentry.cli.{home}")


def main() -> None:
    _register_for(sys.argv[1:])
    try:
        app()
    except MedSentryError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
