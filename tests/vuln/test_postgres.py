"""The Know tables on PostgreSQL: bulk import, findings, KEV leads and the append-only audit
trail."""

from __future__ import annotations

import dataclasses
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
from medsentry.vuln.sbom.load import load_sbom, parse_sbom

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


def test_kev_leads_and_summary_doubts_on_postgresql(pg_url: str, vuln_corpus: Path) -> None:
    sbom = load_sbom(vuln_corpus / "sboms/medical/sbom-completeness/extended.sbom.json").sbom
    freertos = tuple(
        dataclasses.replace(c, version="10.4.1") if c.name == "FreeRTOS" else c
        for c in sbom.components
    )
    store = Store(pg_url)
    try:
        with store.session() as session:
            import_paths(
                session,
                [
                    vuln_corpus / "csaf/icsa_sample/icsa-21-119-04.json",
                    vuln_corpus / "kev/known_exploited_vulnerabilities.json",
                ],
            )
            save_sbom(session, dataclasses.replace(sbom, components=freertos), "1" * 64)
        with store.session() as session:
            run = match_and_store(session, kev_names=True)
        assert (run.new, run.kev_leads) == (25, 1)
        with store.session() as session:
            views = list_findings(session)
        lead = next(v for v in views if v.method == "kev_name")
        assert (lead.vuln_id, lead.kev, lead.kev_due_date) == ("CVE-2020-11023", True, "2025-02-13")
        sure = [v.vuln_id for v in views if v.method != "kev_name" and v.confidence >= 0.5]
        assert sure == ["CVE-2020-28895"]
    finally:
        store.close()
