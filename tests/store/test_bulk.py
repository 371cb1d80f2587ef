from __future__ import annotations

from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, UniqueConstraint, select

from medsentry.store.bulk import upsert_rows
from medsentry.store.db import Store

metadata = MetaData()
things = Table(
    "bulk_things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(32), nullable=False),
    Column("size", Integer, nullable=False),
    Column("extra", JSON, nullable=True),
    UniqueConstraint("name"),
)


def _rows(store: Store) -> list[tuple[object, ...]]:
    with store.engine.connect() as conn:
        query = select(things.c.name, things.c.size, things.c.extra).order_by(things.c.name)
        return [tuple(row) for row in conn.execute(query)]


def test_update_and_skip_on_conflict(store: Store) -> None:
    metadata.create_all(store.engine)
    columns = ("size", "extra", "name")  # not the table's order, on purpose
    with store.engine.begin() as conn:
        upsert_rows(conn, things, columns, [(1, {"a": [1]}, "x"), (2, None, "y")], ["name"])
        # Several statements in one transaction reuse PostgreSQL's staging table.
        upsert_rows(conn, things, columns, [(9, {"b": 2}, "x"), (3, [1], "z")], ["name"])
    assert _rows(store) == [("x", 1, {"a": [1]}), ("y", 2, None), ("z", 3, [1])]
    with store.engine.begin() as conn:
        upsert_rows(
            conn, things, columns, [(10, {"c": 3}, "x")], ["name"], update=("size", "extra")
        )
        upsert_rows(conn, things, columns, [], ["name"], update=("size",))
    assert _rows(store) == [("x", 10, {"c": 3}), ("y", 2, None), ("z", 3, [1])]
