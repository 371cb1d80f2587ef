"""Every evaluator, with a store state that makes it pass and one that makes it fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from medsentry.compliance.attestations import attach_document
from medsentry.compliance.evaluators import Context, Evidence, Status, registered, run_evaluator
from medsentry.compliance.mds2.export import DraftAnswer, write_standard
from medsentry.compliance.mds2.reader import read_form
from medsentry.compliance.mds2.repository import save_form
from medsentry.compliance.recalls import Recall, match_recalls, save_recalls
from medsentry.store.db import Store

from . import builders as b


def run(store: Store, evaluator: str, params: dict[str, Any] | None = None, **ctx: Any) -> Evidence:
    with store.session() as session:
        return run_evaluator(Context(session, **ctx), evaluator, params)


# --------------------------------------------------------------------------- inventory


def test_inventory_coverage(store: Store) -> None:
    assert run(store, "inventory.coverage").status is Status.NOT_ASSESSED
    b.device(store, "10.0.0.1", type="infusion_pump", manufacturer="Acme", model="P1")
    b.device(store, "10.0.0.2", type="patient_monitor", manufacturer="Acme", model="M1")
    assert run(store, "inventory.coverage").status is Status.PASS
    b.device(store, "10.0.0.3")  # unknown type
    b.device(store, "10.0.0.4")
    b.device(store, "10.0.0.5")
    result = run(store, "inventory.coverage")
    assert result.status is Status.FAIL
    assert result.metrics == {"devices": 5, "identified": 2, "share": 0.4}
    assert any("10.0.0.3" in item for item in result.items)
    # Per device type, the model must be known too.
    b.device(store, "10.0.0.6", type="infusion_pump", manufacturer="Acme")
    pumps = run(store, "inventory.coverage", {"device_types": ["infusion_pump"]})
    assert pumps.status is Status.PARTIAL
    assert pumps.metrics["identified"] == 1


def test_inventory_network_map(store: Store) -> None:
    assert run(store, "inventory.network_map").status is Status.NOT_ASSESSED
    b.device(store, "10.0.0.1")
    b.device(store, "10.0.0.2")
    b.hl7_phi(store, "10.0.0.1", "10.0.0.2")
    result = run(store, "inventory.network_map")
    assert result.status is Status.PASS
    assert result.metrics["links"] == 1
    assert "patient data" in result.items[0]


# --------------------------------------------------------------------------- transmission


def test_phi_cleartext_fails_naming_the_sender(store: Store) -> None:
    assert run(store, "transmission.phi_cleartext").status is Status.NOT_ASSESSED
    b.device(store, "10.0.0.30", type="infusion_pump", manufacturer="Acme", model="P1")
    b.device(store, "10.0.0.21", type="hl7_interface_engine")
    b.tls_session(store, "10.0.0.30", "10.0.0.21")
    assert run(store, "transmission.phi_cleartext").status is Status.PASS
    b.hl7_phi(store, "10.0.0.30", "10.0.0.21", 7710)
    result = run(store, "transmission.phi_cleartext")
    assert result.status is Status.FAIL
    assert "Acme P1 [10.0.0.30]" in result.summary
    assert "port 7710" in result.items[0]
    assert result.metrics["cleartext_messages"] == 1


def test_phi_over_tls_flow_is_not_cleartext(store: Store) -> None:
    b.device(store, "10.0.0.30")
    uid = b.tls_session(store, "10.0.0.30", "10.0.0.21")
    # A PHI flag on a flow that is TLS cannot be a clear-text transfer.
    b.event(store, uid, "http", "request", phi=True)
    assert run(store, "transmission.phi_cleartext").status is Status.PASS


def test_phi_cleartext_scoped_to_device_types(store: Store) -> None:
    b.device(store, "10.0.0.30", type="infusion_pump")
    b.device(store, "10.0.0.11", type="imaging_modality")
    b.hl7_phi(store, "10.0.0.30", "10.0.0.21")
    imaging = run(store, "transmission.phi_cleartext", {"device_types": ["imaging_modality"]})
    pumps = run(store, "transmission.phi_cleartext", {"device_types": ["infusion_pump"]})
    assert imaging.status is Status.PASS
    assert pumps.status is Status.FAIL


def test_unauthenticated_sessions(store: Store) -> None:
    b.device(store, "10.0.0.41")
    b.device(store, "10.0.0.40", type="mqtt_broker")
    b.authenticated_mqtt(store, "10.0.0.41", "10.0.0.40")
    assert run(store, "transmission.unauthenticated_sessions").status is Status.PASS
    b.anonymous_mqtt(store, "10.0.0.41", "10.0.0.40")
    result = run(store, "transmission.unauthenticated_sessions")
    assert result.status is Status.FAIL
    assert "without credentials" in result.items[0]


def test_refused_anonymous_login_is_not_a_finding(store: Store) -> None:
    b.device(store, "10.0.0.41")
    uid = b.flow(store, "10.0.0.41", "10.0.0.40", 1883, service="mqtt")
    b.event(store, uid, "mqtt", "connect", username_present=False)
    b.event(store, uid, "mqtt", "connack", accepted=False, reason_code=5)
    assert run(store, "transmission.unauthenticated_sessions").status is Status.PASS


# --------------------------------------------------------------------------- vulnerabilities


def test_kev_unresolved(store: Store) -> None:
    assert run(store, "vulnerabilities.kev_unresolved").status is Status.NOT_ASSESSED
    comps = b.sbom(store)
    b.finding(store, comps[0], "CVE-2021-44228", "affected")
    # Without the KEV catalog nothing can be said about exploitation.
    assert run(store, "vulnerabilities.kev_unresolved").status is Status.NOT_ASSESSED
    b.kev(store, "CVE-2020-0001")
    assert run(store, "vulnerabilities.kev_unresolved").status is Status.PASS
    b.kev(store, "CVE-2021-44228", due="2021-12-24")
    result = run(store, "vulnerabilities.kev_unresolved")
    assert result.status is Status.FAIL
    assert "CVE-2021-44228" in result.summary
    assert "lib0" in result.items[0] and "2021-12-24" in result.items[0]


def test_kev_resolved_by_fix_or_not_affected(store: Store) -> None:
    comps = b.sbom(store)
    b.kev(store, "CVE-2021-44228")
    b.kev(store, "CVE-2023-1111")
    b.finding(store, comps[0], "CVE-2021-44228", "fixed", fixed_after_days=3)
    b.finding(
        store, comps[1], "CVE-2023-1111", "not_affected", justification="component_not_present"
    )
    result = run(store, "vulnerabilities.kev_unresolved")
    assert result.status is Status.PASS
    assert result.metrics["kev_findings"] == 2


def test_patch_metrics(store: Store) -> None:
    comps = b.sbom(store, components=4)
    for i, days in enumerate((2, 4, 10)):
        b.finding(store, comps[i], f"CVE-2024-000{i}", "fixed", fixed_after_days=days)
    b.finding(store, comps[3], "CVE-2024-0009", "affected")
    result = run(store, "vulnerabilities.patch_metrics")
    assert result.metrics["fixed"] == 3
    assert result.metrics["actionable"] == 4
    assert result.metrics["median_days_to_fix"] == 4.0
    # 75% fixed is under the 80% pass mark; 4 days median is fast.
    assert result.status is Status.PARTIAL
    assert run(store, "vulnerabilities.patch_metrics", {"fixed_pass": 0.7}).status is Status.PASS


def test_patch_metrics_fail_when_slow(store: Store) -> None:
    comps = b.sbom(store, components=2)
    b.finding(store, comps[0], "CVE-2024-1000", "fixed", fixed_after_days=200)
    b.finding(store, comps[1], "CVE-2024-1001", "fixed", fixed_after_days=120)
    result = run(store, "vulnerabilities.patch_metrics")
    assert result.metrics["median_days_to_fix"] == 160.0
    assert result.status is Status.FAIL


def test_triaged(store: Store) -> None:
    comps = b.sbom(store, components=3)
    b.finding(store, comps[0], "CVE-1", "under_investigation")
    b.finding(store, comps[1], "CVE-2", "under_investigation")
    b.finding(store, comps[2], "CVE-3", "not_affected")
    assert run(store, "vulnerabilities.triaged").status is Status.FAIL
    with store.session() as s:
        s.execute(text("UPDATE findings SET state = 'affected'"))
    assert run(store, "vulnerabilities.triaged").status is Status.PASS


# --------------------------------------------------------------------------- SBOM and VEX


def test_sbom_present_and_ntia(store: Store) -> None:
    assert run(store, "sbom.present").status is Status.FAIL
    b.sbom(store, ntia=False)
    result = run(store, "sbom.present")
    assert result.status is Status.FAIL
    assert "Supplier name" in result.items[0]
    b.sbom(store, model="Pump-2", ntia=True)
    assert run(store, "sbom.present").status is Status.PARTIAL
    fresh = Store(str(store.engine.url).replace("store.db", "other.db"))
    try:
        b.sbom(fresh, ntia=True)
        assert run(fresh, "sbom.present").status is Status.PASS
    finally:
        fresh.close()


def test_sbom_per_device_model(store: Store) -> None:
    assert run(store, "sbom.present", {"per_device_model": True}).status is Status.NOT_ASSESSED
    b.device(store, "10.0.0.30", type="infusion_pump", manufacturer="Acme", model="Pump-1")
    b.device(store, "10.0.0.31", type="patient_monitor", manufacturer="Acme", model="MX-450")
    assert run(store, "sbom.present", {"per_device_model": True}).status is Status.FAIL
    b.sbom(store, manufacturer="ACME", model="pump 1")
    partial = run(store, "sbom.present", {"per_device_model": True})
    assert partial.status is Status.PARTIAL
    assert "MX-450" in partial.items[0]
    b.sbom(store, manufacturer="Acme", model="MX450")
    assert run(store, "sbom.present", {"per_device_model": True}).status is Status.PASS


def test_sbom_fda_support_fields(store: Store) -> None:
    assert run(store, "sbom.fda_support_fields").status is Status.NOT_ASSESSED
    b.sbom(store, support=False, components=3)
    result = run(store, "sbom.fda_support_fields")
    assert result.status is Status.FAIL
    assert "3 components lack" in result.items[0]
    b.sbom(store, model="Pump-2", support=True)
    assert run(store, "sbom.fda_support_fields").status is Status.PARTIAL


def test_vex_published(store: Store, tmp_path: Path) -> None:
    assert run(store, "vex.published").status is Status.NOT_ASSESSED
    comps = b.sbom(store)
    b.finding(store, comps[0], "CVE-1", "not_affected", justification="component_not_present")
    b.finding(store, comps[1], "CVE-2", "under_investigation")
    assert run(store, "vex.published").status is Status.FAIL
    vex = tmp_path / "vex.json"
    vex.write_text('{"bomFormat": "CycloneDX", "vulnerabilities": []}')
    with store.session() as s:
        attach_document(s, vex, kind="vex", actor="psirt", now=b.T0 + 10)
    assert run(store, "vex.published").status is Status.PARTIAL  # one still undecided
    with store.session() as s:
        s.execute(text("UPDATE findings SET state = 'affected'"))
    assert run(store, "vex.published").status is Status.PASS
    b.sbom(store, model="Pump-9", imported_at=b.T0 + 100)  # a newer SBOM than the VEX
    stale = run(store, "vex.published")
    assert stale.status is Status.PARTIAL
    assert "after the last VEX" in stale.summary


# --------------------------------------------------------------------------- network


def test_external_exposure(store: Store) -> None:
    b.device(store, "10.0.0.30", type="infusion_pump")
    b.flow(store, "10.0.0.30", "10.0.0.21", 2575)
    assert run(store, "network.external_exposure").status is Status.PASS
    b.flow(store, "10.0.0.30", "93.184.216.34", 443)
    outbound = run(store, "network.external_exposure")
    assert outbound.status is Status.PARTIAL
    b.flow(store, "198.51.100.7", "10.0.0.30", 22)  # documentation range: not global
    assert run(store, "network.external_exposure").status is Status.PARTIAL
    b.flow(store, "8.8.4.4", "10.0.0.30", 22)
    inbound = run(store, "network.external_exposure")
    assert inbound.status is Status.FAIL
    assert any("8.8.4.4 (internet)" in item for item in inbound.items)


def test_segmentation(store: Store) -> None:
    assert run(store, "network.segmentation").status is Status.NOT_ASSESSED
    b.device(store, "10.1.0.30", type="infusion_pump")
    b.device(store, "10.2.0.50", type="workstation")
    assert run(store, "network.segmentation").status is Status.PASS
    b.device(store, "10.1.0.55", type="workstation")
    result = run(store, "network.segmentation")
    assert result.status is Status.FAIL
    assert "10.1.0.0/24" in result.items[0]
    b.device(store, "10.3.0.31", type="patient_monitor")
    assert run(store, "network.segmentation").status is Status.PARTIAL


def test_insecure_services(store: Store) -> None:
    b.device(store, "10.0.0.30", type="infusion_pump", offers={("tcp", 443)})
    assert run(store, "network.insecure_services").status is Status.PASS
    b.device(store, "10.0.0.31", type="patient_monitor", offers={("tcp", 23)})
    result = run(store, "network.insecure_services")
    assert result.status is Status.FAIL
    assert "Telnet" in result.items[0]
    pumps = run(store, "network.insecure_services", {"device_types": ["infusion_pump"]})
    assert pumps.status is Status.PASS


# --------------------------------------------------------------------------- monitoring


def test_recent_capture(store: Store) -> None:
    assert run(store, "monitoring.recent_capture").status is Status.FAIL
    b.capture(store)
    assert run(store, "monitoring.recent_capture").status is Status.PASS
    later = run(store, "monitoring.recent_capture", now=__import__("time").time() + 10 * 86400)
    assert later.status is Status.PARTIAL
    stale = run(store, "monitoring.recent_capture", now=__import__("time").time() + 60 * 86400)
    assert stale.status is Status.FAIL


def test_alerts_unacknowledged(tmp_path: Path) -> None:
    # The alert table belongs to detection; the evaluator reads whatever acknowledgement
    # column it finds, so a store with only that table is enough here.
    store = Store(f"sqlite:///{tmp_path / 'alerts.db'}", upgrade=False)
    try:
        assert run(store, "alerts.unacknowledged").status is Status.NOT_ASSESSED
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE TABLE alerts (id TEXT PRIMARY KEY, category TEXT, severity TEXT, "
                    "name TEXT, src TEXT, ts_start REAL, ts_end REAL, acknowledged_at REAL)"
                )
            )
        # No alerts means nothing until traffic has been watched.
        assert run(store, "alerts.unacknowledged").status is Status.NOT_ASSESSED
        with store.engine.begin() as conn:
            conn.execute(text("CREATE TABLE captures (id INTEGER PRIMARY KEY)"))
            conn.execute(text("INSERT INTO captures VALUES (1)"))
        assert run(store, "alerts.unacknowledged").status is Status.PASS
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO alerts VALUES ('a1', 'recon_port_scan', 'high', 'Port scan', "
                    "'10.0.0.99', 1000, 1010, NULL)"
                )
            )
        result = run(store, "alerts.unacknowledged", now=1010 + 4 * 86400)
        assert result.status is Status.FAIL
        assert "recon_port_scan" in result.items[0]
        recent = run(store, "alerts.unacknowledged", now=1010 + 3600)
        assert recent.status is Status.PARTIAL
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE alerts SET acknowledged_at = 2000"))
        assert run(store, "alerts.unacknowledged", now=1e9).status is Status.PASS
    finally:
        store.close()


# --------------------------------------------------------------------------- recalls, MDS2, docs


def _recall(**changes: Any) -> Recall:
    values: dict[str, Any] = {
        "source": "recall",
        "recall_number": "Z-0001-2025",
        "event_id": "1",
        "recalling_firm": "Acme Medical Inc.",
        "product_code": "FRN",
        "device_name": "Pump, Infusion",
        "product_description": "Acme Pump-1 infusion pump, software 2.1",
        "code_info": None,
        "reason": "Software may stop infusion",
        "classification": "Class I",
        "status": "Ongoing",
        "initiated": "2025-01-01",
        "k_numbers": (),
        "sha256": "x",
    }
    values.update(changes)
    return Recall(**values)


def test_recalls_open(store: Store) -> None:
    assert run(store, "recalls.open").status is Status.NOT_ASSESSED
    b.device(store, "10.0.0.30", type="infusion_pump", manufacturer="Acme", model="Pump-1")
    with store.session() as s:
        save_recalls(s, [_recall(product_description="Other thing", product_code="LLZ")], None)
        match_recalls(s)
    assert run(store, "recalls.open").status is Status.PASS
    with store.session() as s:
        save_recalls(s, [_recall(recall_number="Z-0002-2025")], None)
        match_recalls(s)
    result = run(store, "recalls.open")
    assert result.status is Status.FAIL
    assert "Z-0002-2025" in result.items[0]


def _form(
    tmp_path: Path, name: str, answers: dict[str, str], notes: dict[str, str] | None = None
) -> Path:
    drafts = {q: DraftAnswer(a, "", (notes or {}).get(q)) for q, a in answers.items()}
    return write_standard(tmp_path / name, drafts, title="test form")


def test_mds2_coverage_and_contradictions(store: Store, tmp_path: Path) -> None:
    assert run(store, "mds2.coverage").status is Status.NOT_ASSESSED
    assert run(store, "mds2.contradictions").status is Status.NOT_ASSESSED
    b.device(store, "10.0.0.30", type="infusion_pump", manufacturer="Acme", model="Pump-1")
    b.device(store, "10.0.0.31", type="patient_monitor", manufacturer="Acme", model="M-1")
    b.hl7_phi(store, "10.0.0.30", "10.0.0.21")
    path = _form(tmp_path, "pump.xlsx", {"DOC-1": "Acme", "DOC-3": "Pump-1", "TXCF-2": "No"})
    with store.session() as s:
        save_form(s, read_form(path), actor="t")
    coverage = run(store, "mds2.coverage")
    assert coverage.status is Status.PARTIAL
    assert "M-1" in coverage.items[0]
    assert run(store, "mds2.contradictions").status is Status.PASS
    liar = _form(tmp_path, "pump2.xlsx", {"DOC-1": "Acme", "DOC-3": "Pump-1", "TXCF-2": "Yes"})
    with store.session() as s:
        save_form(s, read_form(liar), actor="t")
    result = run(store, "mds2.contradictions")
    assert result.status is Status.FAIL
    assert "TXCF-2: Yes" in result.items[0]


def test_documents_on_file(store: Store, tmp_path: Path) -> None:
    params = {"kinds": ["incident_response_plan"], "max_age_days": 365}
    assert run(store, "documents.on_file", params).status is Status.NOT_ASSESSED
    plan = tmp_path / "irp.pdf"
    plan.write_bytes(b"%PDF-1.4 plan")
    with store.session() as s:
        attach_document(s, plan, kind="incident_response_plan", actor="ciso", now=b.T0)
    assert run(store, "documents.on_file", params, now=b.T0 + 10 * 86400).status is Status.PASS
    old = run(store, "documents.on_file", params, now=b.T0 + 400 * 86400)
    assert old.status is Status.PARTIAL
    assert "irp.pdf" in old.items[0]


def test_every_evaluator_is_covered() -> None:
    """Each registered evaluator is run by a test of this file (pass and fail states)."""
    source = Path(__file__).read_text(encoding="utf-8")
    missing = [e for e in registered() if f'run(store, "{e}"' not in source]
    assert not missing, f"evaluators without pass/fail tests: {missing}"


@pytest.mark.parametrize("evaluator_id", sorted(registered()))
def test_empty_store_never_passes(store: Store, evaluator_id: str) -> None:
    """With no data at all, an evaluator says "not assessed" or "fail", never "pass"."""
    params = {"kinds": ["policy"]} if evaluator_id == "documents.on_file" else None
    result = run(store, evaluator_id, params)
    assert result.status in (Status.NOT_ASSESSED, Status.FAIL), result.summary
