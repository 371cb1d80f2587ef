from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from medsentry.store.base import Base
from medsentry.store.db import Store
from medsentry.store.models import core

CORE_TABLES = {
    model.__tablename__
    for model in vars(core).values()
    if isinstance(model, type) and issubclass(model, Base) and model is not Base
}


def _mentions_core(diff: object) -> bool:
    return any(name in repr(diff) for name in CORE_TABLES)


def test_core_migrations_build_the_tables_the_models_describe(store: Store) -> None:
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if _mentions_core(d)] == []
    assert "device_captures" in CORE_TABLES
