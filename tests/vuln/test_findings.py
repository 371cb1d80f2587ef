"""Findings from stored SBOMs and advisories, triage with an append-only audit trail."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DatabaseError

from medsentry.errors import InputError
from medsentry.store.db import Store
from medsentry.store.models.core import DeviceRow
from medsentry.store.models.vuln import FindingAuditRow, FindingRow
from medsentry.vuln.advisories.importer import import_paths
from medsentry.vuln.findings import (
    apply_vex,
    audit_trail,
    list_findings,
    match_and_store,
    set_state,
    statements_from_findings,
)
from medsentry.vuln.model import FindingState, Justification, VexStatement
from medsentry.vuln.repository import save_sbom
from medsentry.vuln.sbom.load import parse_sbom

ICSMA = "csaf/icsma/icsma-24-151-01.json"


def device_sbom(version: str = "1.9.4.1") -> dict[str, Any]:
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "timestamp": "2024-06-01T00:00:00Z",
            "component": {
                "type": "device",
                "name": "Connex Spot Monitor",
                "version": "2.0",
                "supplier": {"name": "Baxter"},
            },
        },
        "components": [
            {
                "type": "application",
                "bom-ref": "cfg-tool",
                "name": "Welch Allyn Product Configuration Tool",
                "version": version,
                "supplier": {"name": "Baxter"},
            },
        ],
    }


def _load(store: Store, doc: dict[str, Any]) -> int:
    loaded = parse_sbom(json.dumps(doc).encode(), "device.json")
    with store.session() as session:
        row, _ = save_sbom(session, loaded.sbom, loaded.sha256)
        return row.id


@pytest.fixture
def matched(vuln_store: Store, vuln_corpus: Path) -> Store:
    with vuln_store.session() as session:
        import_paths(session, [vuln_corpus / ICSMA])
    _load(vuln_store, device_sbom())
    with vuln_store.session() as session:
        run = match_and_store(session)
    assert run.new == 1
    return vuln_store


def test_match_creates_explained_prioritised_finding(matched: Store, vuln_corpus: Path) -> None:
    doc = json.loads((vuln_corpus / ICSMA).read_text())
    cve = doc["vulnerabilities"][0]["cve"]
    base = doc["vulnerabilities"][0]["scores"][0]["cvss_v3"]["baseScore"]
    with matched.session() as session:
        (view,) = list_findings(session)
    assert view.vuln_id == cve
    assert view.state == "affected"
    assert "Baxter" in view.reason and "1.9.4.1" in view.reason
    assert view.method == "vendor_product" and view.confidence < 0.9
    assert view.priority == "P1" and f"{base:.1f}" in (view.priority_reason or "")
    assert view.device == "Baxter Connex Spot Monitor"


def test_rematch_is_idempotent_and_keeps_triage(matched: Store) -> None:
    with matched.session() as session:
        (view,) = list_findings(session)
        set_state(
            session,
            view.id,
            "not_affected",
            actor="alice",
            justification="vulnerable_code_not_in_execute_path",
            comment="tool not shipped",
        )
    with matched.session() as session:
        run = match_and_store(session)
    assert (run.new, run.refreshed) == (0, 1)
    with matched.session() as session:
        (view,) = list_findings(session)
        assert view.state == "not_affected"
        trail = audit_trail(session, view.id)
    assert [(a.old_state, a.new_state, a.actor) for a in trail] == [
        (None, "affected", "medsentry-matcher"),
        ("affected", "not_affected", "alice"),
    ]
    assert trail[1].comment == "tool not shipped"


def test_newer_advisory_revision_closes_matcher_findings(
    matched: Store, vuln_corpus: Path, tmp_path: Path
) -> None:
    doc = json.loads((vuln_corpus / ICSMA).read_text())
    tracking = doc["document"]["tracking"]
    tracking["revision_history"].append(
        {"date": "2030-01-01T00:00:00Z", "number": "2", "summary": "fixed"}
    )
    tracking["version"], tracking["current_release_date"] = "2", "2030-01-01T00:00:00Z"
    doc["vulnerabilities"][0]["product_status"] = {"fixed": ["CSAFPID-0001"]}
    (tmp_path / "v2.json").write_text(json.dumps(doc))
    with matched.session() as session:
        assert import_paths(session, [tmp_path / "v2.json"]).updated == 1
    with matched.session() as session:
        run = match_and_store(session)
    assert run.closed == 1
    with matched.session() as session:
        (view,) = list_findings(session)
        assert view.state == "fixed"
        assert audit_trail(session, view.id)[-1].origin == "matcher"


def test_fixed_version_is_not_a_finding(vuln_store: Store, vuln_corpus: Path) -> None:
    with vuln_store.session() as session:
        import_paths(session, [vuln_corpus / ICSMA])
    _load(vuln_store, device_sbom(version="1.9.4.2"))
    with vuln_store.session() as session:
        assert match_and_store(session).new == 0


def test_state_changes_are_validated(matched: Store) -> None:
    with matched.session() as session:
        (view,) = list_findings(session)
        with pytest.raises(InputError, match="needs a --justification"):
            set_state(session, view.id, "not_affected", actor="bob")
        with pytest.raises(InputError, match="unknown state"):
            set_state(session, view.id, "maybe", actor="bob")
        with pytest.raises(InputError, match="no finding with id"):
            set_state(session, 9999, "fixed", actor="bob")


def test_audit_rows_cannot_be_changed_or_deleted(matched: Store) -> None:
    with pytest.raises(DatabaseError, match="append-only"), matched.session() as session:
        session.execute(update(FindingAuditRow).values(actor="mallory"))
    with pytest.raises(DatabaseError, match="append-only"), matched.session() as session:
        session.execute(text("DELETE FROM finding_audit"))
    with matched.session() as session:
        actors = set(session.scalars(select(FindingAuditRow.actor)))
    assert actors == {"medsentry-matcher"}


def test_filters_by_device_priority_and_state(matched: Store) -> None:
    with matched.session() as session:
        session.add(
            DeviceRow(
                key="dev-1",
                manufacturer="BAXTER",
                model="connex spot monitor",
                first_seen=0.0,
                last_seen=0.0,
                evidence=[],
            )
        )
        session.add(
            DeviceRow(
                key="dev-2",
                manufacturer="Other",
                model="Infusion Pump",
                first_seen=0.0,
                last_seen=0.0,
                evidence=[],
            )
        )
    with matched.session() as session:
        assert len(list_findings(session, device="dev-1")) == 1
        assert list_findings(session, device="dev-2") == []
        with pytest.raises(InputError, match="no device matches"):
            list_findings(session, device="nope")
        assert len(list_findings(session, priority="P1")) == 1
        assert list_findings(session, priority="P4") == []
        assert list_findings(session, state="fixed") == []


def test_vex_statements_round_trip_through_findings(matched: Store) -> None:
    with matched.session() as session:
        (statement,) = statements_from_findings(session)
    assert statement.state == FindingState.AFFECTED
    vex = VexStatement(
        vuln_id=statement.vuln_id,
        product=statement.product,
        product_kind=statement.product_kind,
        state=FindingState.NOT_AFFECTED,
        justification=Justification.COMPONENT_NOT_PRESENT,
        detail="Tool removed from the product",
    )
    with matched.session() as session:
        result = apply_vex(session, [vex], actor="psirt")
    assert (result.applied, result.unmatched) == (1, 0)
    with matched.session() as session:
        (after,) = statements_from_findings(session)
        row = session.scalar(select(FindingRow))
        assert row is not None and row.detail == "Tool removed from the product"
        assert audit_trail(session, row.id)[-1].origin == "vex-import"
    assert (after.state, after.justification) == (vex.state, vex.justification)
    assert re.match(r"urn:cdx:.+#cfg-tool$", after.product) or after.product_kind == "name"


def test_network_exposure_raises_priority_reason(vuln_store: Store, vuln_corpus: Path) -> None:
    from medsentry.store.models.core import DevicePeer, DeviceService

    with vuln_store.session() as session:
        dev = DeviceRow(
            key="dev-x",
            manufacturer="Baxter",
            model="Connex Spot Monitor",
            first_seen=0.0,
            last_seen=0.0,
            evidence=[],
        )
        dev.services.append(DeviceService(role="offers", proto="tcp", port=23))
        dev.peers.append(DevicePeer(peer_ip="8.8.8.8", bytes=10))
        session.add(dev)
        import_paths(session, [vuln_corpus / ICSMA])
    _load(vuln_store, device_sbom())
    with vuln_store.session() as session:
        match_and_store(session)
        (view,) = list_findings(session)
    reason = view.priority_reason or ""
    assert "reachable from outside" in reason and "telnet" in reason


def test_inventory_devices_without_sbom_are_matched(vuln_store: Store, vuln_corpus: Path) -> None:
    from medsentry.vuln.findings import inventory_sboms

    with vuln_store.session() as session:
        import_paths(session, [vuln_corpus / ICSMA])
        session.add(
            DeviceRow(
                key="dev-y",
                manufacturer="Baxter",
                model="Welch Allyn Product Configuration Tool",
                first_seen=0.0,
                last_seen=0.0,
                evidence=[],
            )
        )
    with vuln_store.session() as session:
        ids = inventory_sboms(session)
        assert len(ids) == 1
        assert inventory_sboms(session) == ids  # idempotent
        run = match_and_store(session, sbom_ids=ids, match_unversioned=True)
    assert run.new == 1
    with vuln_store.session() as session:
        (view,) = list_findings(session, device="dev-y")
    assert view.confidence < 0.5


def test_inventory_devices_get_kev_name_leads(vuln_store: Store, vuln_corpus: Path) -> None:
    from medsentry.vuln.findings import inventory_sboms

    with vuln_store.session() as session:
        import_paths(session, [vuln_corpus / "kev/known_exploited_vulnerabilities.json"])
        for key, model in (("nvr", "DNR-322L"), ("cam", "DCS-8000LH")):
            session.add(
                DeviceRow(
                    key=key,
                    manufacturer="D-Link",
                    model=model,
                    first_seen=0.0,
                    last_seen=0.0,
                    evidence=[],
                )
            )
    with vuln_store.session() as session:
        ids = inventory_sboms(session)
        assert match_and_store(session, sbom_ids=ids).new == 0  # leads are opt-in
        run = match_and_store(session, sbom_ids=ids, match_unversioned=True, kev_names=True)
    assert (run.matches, run.kev_leads, run.new) == (0, 1, 1)
    with vuln_store.session() as session:
        (view,) = list_findings(session, device="nvr")
        assert list_findings(session, device="cam") == []
    # KEV names the recorder model (CVE-2022-40799); the camera model is in no entry
    assert (view.vuln_id, view.method, view.state) == (
        "CVE-2022-40799",
        "kev_name",
        "under_investigation",
    )
    assert view.kev and view.confidence == 0.3 and "NOT checked" in view.reason
