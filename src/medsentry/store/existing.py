"""Open a store that must already exist (query commands, the API), never a new empty one."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from medsentry.config import database_url
from medsentry.errors import StoreError
from medsentry.store.db import Store


def open_existing(url: str | None = None) -> Store:
    """The store at ``url`` (or the configured default), migrated to the current schema.

    A SQLite file that does not exist is an error rather than a silently created empty
    database, so a mistyped path is noticed.
    """
    resolved = database_url(url)
    # Parsed here rather than by make_engine, which creates a SQLite file's folders.
    try:
        parsed = make_url(resolved)
    except ArgumentError as exc:
        raise StoreError(
            f"invalid database URL {resolved!r}: use e.g. sqlite:///medsentry.db"
        ) from exc
    if parsed.drivername.startswith("sqlite"):
        if not parsed.database or parsed.database == ":memory:":
            raise StoreError("an in-memory database holds nothing to query: pass --db with a file")
        path = Path(parsed.database)
        if not path.is_file():
            raise StoreError(
                f"no database at {path}: run `medsentry analyze CAPTURE --db {resolved}` first, "
                "or pass --db / set MEDSENTRY_DB to an existing one"
            )
    try:
        return Store(resolved)
    except StoreError as exc:
        # Driver messages can span lines; the CLI promises one.
        raise StoreError(" ".join(str(exc).split())) from exc
    except DBAPIError as exc:
        # e.g. a file that is not a SQLite database, or a refused PostgreSQL login.
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise StoreError(
            f"cannot open the database {parsed.render_as_string(hide_password=True)}: {reason}"
        ) from exc
