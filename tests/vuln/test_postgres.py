"""The Know tables on PostgreSQL: bulk import, findings and the append-only audit trail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from medsentry.store.db import Store
from medsentry.store.models.vuln import AdvisoryRow, AffectedProductRow
from medsentry.vuln.advisories.importer import import_paths
from medsentry.vuln.findings import list_findings, match_and_store, set_state
from medsentry.vuln.repository import save_sbom
from medsentry.vuln.sbom.load import parse_sbom

from .test_findings import device_sbom

pytestmark = pytest.mark.postgres


def test_know_on_postgresql(pg_url: str, vuln_corpus: Path) -> None:
    store = Store(pg_url)
    try:
        with store.session() as session:
            summary = import_paths(session, [vuln_corpus / "csaf/icsma"])
        assert summary.new == 144
        with store.session() as session:
            again = import_paths(session, [vuln_corpus / "csaf/icsma"])
            assert again.unchanged == 144
            assert session.scalar(select(func.count(AdvisoryRow.id))) == 144
            assert session.scalar(select(func.count(AffectedProductRow.id))) == summary.products

        loaded = parse_sbom(json.dumps(device_sbom()).encode(), "device.json")
        with store.session() as session:
            save_sbom(session, loaded.sbom, loaded.sha256)
        with store.session() as session:
            assert match_and_store(session).new == 1
        with store.session() as session:
            (view,) = list_findings(session)
            set_state(session, view.id, "fixed", actor="alice")
        with pytest.raises(DatabaseError, match="append-only"), store.session() as session:
            session.execute(text("UPDATE finding_audit SET actor = 'mallory'"))
    finally:
        store.close()
