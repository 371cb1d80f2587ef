"""The compliance migration builds what the models describe, on SQLite and PostgreSQL, and
the database itself keeps attestations append-only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from medsentry.compliance.attestations import attest
from medsentry.compliance.evaluators import assess
from medsentry.store.base import Base
from medsentry.store.db import Store
from medsentry.store.models import compliance

from . import builders as b

TABLES = {
    model.__tablename__
    for model in vars(compliance).values()
    if isinstance(model, type) and issubclass(model, Base) and model is not Base
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = (
        f"sqlite:///{tmp_path / 'store.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    opened = Store(url)
    try:
        yield opened
    finally:
        opened.close()


def test_migration_matches_models(any_store: Store) -> None:
    with any_store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if any(t in repr(d) for t in TABLES)] == []
    assert "compliance_attestations" in TABLES and "recall_findings" in TABLES


def test_append_only_and_assessment(any_store: Store) -> None:
    b.device(any_store, "10.0.0.30", type="infusion_pump", manufacturer="Acme", model="P1")
    b.hl7_phi(any_store, "10.0.0.30", "10.0.0.21")
    with any_store.session() as s:
        attest(s, "cpg.e2", "pass", "DMARC enforced", "it")
        results = {r.control.id: r.status.value for r in assess(s, "hospital").results}
    assert results["hipaa.164.312.e.1"] == "fail"
    assert results["cpg.e2"] == "pass"
    with pytest.raises(DatabaseError, match="append-only"), any_store.session() as s:
        s.execute(text("DELETE FROM compliance_attestations"))
