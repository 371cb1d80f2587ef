"""Declared versus observed on the demo capture (analysed by the real pipeline), and the
pre-filled draft export."""

from __future__ import annotations

import shutil
from pathlib import Path

from medsentry.compliance.mds2.diff import DeviceTraffic, Verdict, diff_form
from medsentry.compliance.mds2.export import (
    DraftAnswer,
    fill_template,
    observed_answers,
    write_standard,
)
from medsentry.compliance.mds2.questions import Answer
from medsentry.compliance.mds2.reader import read_form
from medsentry.compliance.mds2.repository import get_form, save_form
from medsentry.compliance.observe import Observations
from medsentry.store.db import Store

from . import builders as b

PUMP, MONITOR, SPO2, CT, PACS, EHR = (
    "10.77.0.30",
    "10.77.0.31",
    "10.77.0.41",
    "10.77.0.11",
    "10.77.0.10",
    "10.77.0.20",
)

# What each (invented) manufacturer declares for the demo's device models.
DEMO_FORMS: dict[str, dict[str, DraftAnswer]] = {
    PUMP: {
        "DOC-1": DraftAnswer("ICU Medical", ""),
        "DOC-3": DraftAnswer("Plum 360", ""),
        "MPII-1": DraftAnswer("Yes", ""),
        "TXCF-2": DraftAnswer("Yes", ""),
        "CONN-2": DraftAnswer("Yes", "", "Ports used: 2575/tcp (HL7 MLLP), 53/udp"),
        "RMOT-1": DraftAnswer("No", ""),
    },
    MONITOR: {
        "DOC-1": DraftAnswer("Philips", ""),
        "DOC-3": DraftAnswer("IntelliVue MX450", ""),
        "MPII-1": DraftAnswer("Yes", ""),
        "TXCF-4": DraftAnswer("Yes", ""),
    },
    SPO2: {
        "DOC-1": DraftAnswer("Masimo", ""),
        "DOC-3": DraftAnswer("Radius PPG", ""),
        "MPII-1": DraftAnswer("No", ""),
        "TXCF-4": DraftAnswer("Yes", ""),
        "CONN-4": DraftAnswer("No", ""),
    },
    CT: {
        "DOC-1": DraftAnswer("GE Healthcare", ""),
        "DOC-3": DraftAnswer("Revolution CT", ""),
        "TXCF-2": DraftAnswer("Yes", ""),
    },
    PACS: {
        "DOC-1": DraftAnswer("Example PACS Ltd", ""),
        "DOC-3": DraftAnswer("Archive 5", ""),
        "CONN-2": DraftAnswer("Yes", "", "Open ports: 104/tcp (DICOM) and 2762/tcp (DICOM TLS)"),
        "SAHD-8": DraftAnswer("Yes", ""),
    },
    EHR: {
        "DOC-1": DraftAnswer("Example EHR", ""),
        "DOC-3": DraftAnswer("EHR 9", ""),
        "CONN-7": DraftAnswer("No", ""),
    },
}


def _import_demo_forms(store: Store, folder: Path) -> dict[str, int]:
    ids = {}
    for ip, answers in DEMO_FORMS.items():
        path = write_standard(folder / f"{ip}.xlsx", answers, title=f"MDS2 for {ip}")
        with store.session() as s:
            ids[ip], _ = save_form(s, read_form(path), actor="biomed", devices=[ip])
    return ids


def test_demo_capture_contradicts_the_declarations(demo_store: Store, tmp_path: Path) -> None:
    ids = _import_demo_forms(demo_store, tmp_path)
    with demo_store.session() as s:
        obs = Observations(s)
        diffs = {ip: diff_form(s, form_id, obs) for ip, form_id in ids.items()}
    kinds = {item.check for d in diffs.values() for item in d.contradictions}
    # At least three kinds of contradiction are required; the demo shows five.
    assert {
        "phi_encrypted_in_transit",
        "phi_capable",
        "authenticated_connections",
        "declared_ports",
        "tls",
    } <= kinds

    pump = {i.check: i for i in diffs[PUMP].items}
    assert pump["phi_encrypted_in_transit"].verdict is Verdict.CONTRADICTION
    assert "HL7" in pump["phi_encrypted_in_transit"].observed
    assert any("port 7710" in e for e in pump["phi_encrypted_in_transit"].evidence)
    assert pump["declared_ports"].verdict is Verdict.CONTRADICTION
    assert any("7710/tcp, not in the declared list" in e for e in pump["declared_ports"].evidence)
    assert pump["remote_service"].verdict is Verdict.CONSISTENT

    spo2 = {i.check: i for i in diffs[SPO2].items}
    assert spo2["phi_capable"].verdict is Verdict.CONTRADICTION
    assert any("MQTT" in e for e in spo2["phi_capable"].evidence)
    assert spo2["authenticated_connections"].verdict is Verdict.CONTRADICTION
    assert any("without credentials" in e for e in spo2["authenticated_connections"].evidence)
    assert spo2["external_communication"].verdict is Verdict.CONSISTENT

    pacs = {i.check: i for i in diffs[PACS].items}
    assert any("11112/tcp open" in e for e in pacs["declared_ports"].evidence)
    assert any("declared but not seen" in e for e in pacs["declared_ports"].evidence)

    ehr = {i.check: i for i in diffs[EHR].items}
    assert ehr["tls"].verdict is Verdict.CONTRADICTION

    monitor = {i.check: i for i in diffs[MONITOR].items}
    assert monitor["authenticated_connections"].verdict is Verdict.CONTRADICTION
    assert monitor["phi_capable"].verdict is Verdict.CONSISTENT


def test_remote_service_and_external_contradictions(store: Store, tmp_path: Path) -> None:
    b.device(store, "10.0.0.30", type="infusion_pump", manufacturer="Acme", model="P-1")
    b.flow(store, "203.0.113.9", "10.0.0.30", 443)  # documentation range: not internet
    answers = {
        "DOC-1": DraftAnswer("Acme", ""),
        "DOC-3": DraftAnswer("P-1", ""),
        "RMOT-1": DraftAnswer("No", ""),
        "CONN-4": DraftAnswer("No", ""),
    }
    path = write_standard(tmp_path / "p1.csv", answers, title="t")
    with store.session() as s:
        form_id, _ = save_form(s, read_form(path), actor="t")  # matched by model, not linked
    with store.session() as s:
        before = {i.check: i for i in diff_form(s, form_id).items}
    assert before["remote_service"].verdict is Verdict.CONSISTENT
    b.flow(store, "81.2.69.160", "10.0.0.30", 5900)  # VNC from the internet
    b.flow(store, "10.0.0.30", "52.95.110.1", 443)  # and a call home
    with store.session() as s:
        result = diff_form(s, form_id)
    assert [d.label for d in result.devices] == ["Acme P-1 [10.0.0.30]"]
    items = {i.check: i for i in result.items}
    assert items["remote_service"].verdict is Verdict.CONTRADICTION
    assert any("81.2.69.160 (internet)" in e for e in items["remote_service"].evidence)
    assert any("VNC" in e for e in items["remote_service"].evidence)
    assert items["external_communication"].verdict is Verdict.CONTRADICTION


def test_form_without_devices_says_so(store: Store, tmp_path: Path) -> None:
    path = write_standard(tmp_path / "f.xlsx", {"DOC-3": DraftAnswer("Nothing-9", "")}, title="t")
    with store.session() as s:
        form_id, created = save_form(s, read_form(path), actor="t")
        again, created_again = save_form(s, read_form(path), actor="t")
        result = diff_form(s, form_id)
    assert created and not created_again and again == form_id
    assert result.devices == [] and result.items == []


def test_draft_from_observations_is_consistent(demo_store: Store, tmp_path: Path) -> None:
    with demo_store.session() as s:
        obs = Observations(s)
        pump = [d for d in obs.devices if PUMP in d.ips]
        answers = observed_answers(DeviceTraffic(obs, pump))
    assert answers["TXCF-2"].answer == "No"
    assert "HL7" in answers["TXCF-2"].basis
    assert answers["MPII-1"].answer == "Yes"
    assert "7710/tcp (outbound)" in (answers["CONN-2"].note or "")
    assert answers["TXCF-4"].answer == "No"
    draft = write_standard(tmp_path / "draft.xlsx", answers, title="draft")
    with demo_store.session() as s:
        form_id, _ = save_form(s, read_form(draft), actor="t", devices=[PUMP])
        stored = get_form(s, form_id)
        result = diff_form(s, form_id)
    assert stored.value("TXCF-2") is Answer.NO
    # A draft made from what was observed cannot contradict what was observed.
    assert result.contradictions == []
    assert {i.check for i in result.items} >= {"phi_encrypted_in_transit", "declared_ports"}


def test_fill_a_blank_nema_form(corpus: Path, demo_store: Store, tmp_path: Path) -> None:
    template = tmp_path / "blank.xlsx"
    shutil.copy(
        corpus
        / "prove"
        / "mds2"
        / "nema_example_mds2_worksheet_HN1-2019__LM-Tech-Solutions_parseMDS2.xlsx",
        template,
    )
    with demo_store.session() as s:
        obs = Observations(s)
        answers = observed_answers(DeviceTraffic(obs, [d for d in obs.devices if SPO2 in d.ips]))
    out = tmp_path / "filled.xlsx"
    filled = fill_template(template, out, answers)
    assert filled == len(answers)
    form = read_form(out)
    assert form.value("TXCF-2") is Answer.NO  # the example said No too; now from traffic
    assert form.value("TXCF-4") is Answer.NO
    assert form.value("MPII-1") is Answer.YES
    assert (form.answers["DOC-1"].text or "").startswith("Masimo")
    assert len(form.answers) == 240
