"""Alembic environment: runs migrations on the engine handed over by ``medsentry.store.db``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

import medsentry.store.models  # noqa: F401  (registers every table)
from medsentry.store.base import Base

config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):  # pragma: no cover - only when run by hand
    from medsentry.store.db import make_engine

    engine = make_engine(None)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
