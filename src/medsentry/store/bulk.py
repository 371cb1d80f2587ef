"""Fast bulk upserts for the large tables (flows, events), per dialect.

SQLAlchemy's per-row parameter handling costs about as much as SQLite's own work, so
rows go to the driver as plain tuples: SQLite gets one compiled ``INSERT .. ON CONFLICT``
and ``executemany``; PostgreSQL gets the rows by ``COPY`` into a temporary table and one
``INSERT .. SELECT .. ON CONFLICT``. Both run inside the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Connection, Table
from sqlalchemy.dialects import sqlite

from medsentry.errors import StoreError

Row = tuple[Any, ...]


def upsert_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Row],
    conflict: Sequence[str],
    update: Sequence[str] = (),
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table``.

    A row whose ``conflict`` columns match an existing row rewrites that row's ``update``
    columns, or is skipped when ``update`` is empty. ``rows`` must not repeat a conflict
    key (PostgreSQL refuses to update one row twice in a statement).
    """
    if not rows:
        return
    json_positions = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]
    if json_positions:
        rows = [_dump_json(row, json_positions) for row in rows]
    dialect = conn.dialect.name
    if dialect == "sqlite":
        _sqlite_upsert(conn, table, columns, rows, conflict, update)
    elif dialect == "postgresql":
        _postgresql_upsert(conn, table, columns, rows, conflict, update)
    else:
        raise StoreError(f"unsupported database {dialect!r}: use SQLite or PostgreSQL")


def _dump_json(row: Row, positions: list[int]) -> Row:
    values = list(row)
    for i in positions:
        values[i] = json.dumps(values[i], separators=(",", ":"), ensure_ascii=False)
    return tuple(values)


def _sqlite_upsert(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Row],
    conflict: Sequence[str],
    update: Sequence[str],
) -> None:
    stmt = sqlite.insert(table)
    index = [table.c[name] for name in conflict]
    if update:
        stmt = stmt.on_conflict_do_update(
            index_elements=index, set_={name: stmt.excluded[name] for name in update}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=index)
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(columns))
    order = [columns.index(name) for name in compiled.positiontup or ()]
    if order != list(range(len(columns))):
        rows = [tuple(row[i] for i in order) for row in rows]
    conn.exec_driver_sql(compiled.string, list(rows))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _postgresql_upsert(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Row],
    conflict: Sequence[str],
    update: Sequence[str],
) -> None:
    target = _quote(table.name)
    stage = _quote(f"medsentry_stage_{table.name}")
    cols = ", ".join(_quote(name) for name in columns)
    if update:
        sets = ", ".join(f"{_quote(name)} = EXCLUDED.{_quote(name)}" for name in update)
        action = f"DO UPDATE SET {sets}"
    else:
        action = "DO NOTHING"
    keys = ", ".join(_quote(name) for name in conflict)
    raw = conn.connection.driver_connection
    if raw is None:  # pragma: no cover - a pooled connection always has one
        raise StoreError("the PostgreSQL connection is closed")
    with raw.cursor() as cur:
        # Same column types as the target, no constraints; dropped at commit.
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS "
            f"SELECT {cols} FROM {target} WITH NO DATA"
        )
        with cur.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(
            f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage} "
            f"ON CONFLICT ({keys}) {action}"
        )
        cur.execute(f"TRUNCATE {stage}")
