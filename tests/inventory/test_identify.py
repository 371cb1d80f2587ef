"""Device identification: rules as data, evidence from events, stable classification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from medsentry.errors import ConfigError
from medsentry.inventory.device import Device
from medsentry.inventory.identify import (
    RULES_ENV,
    DeviceType,
    add_evidence,
    classify,
    default_rules,
    evidence_from_event,
    load_rules,
)
from medsentry.protocols.base import ORIG, RESP, ProtocolEvent
from medsentry.protocols.hl7 import HL7Analyzer


def event(protocol: str, kind: str, direction: int = ORIG, **fields: Any) -> ProtocolEvent:
    return ProtocolEvent(1.0, "C1", protocol, kind, direction, fields)


def device(*items: tuple[str, str], vendor: str | None = None) -> Device:
    d = Device(key="mac:00:00:00:00:00:01", mac="00:00:00:00:00:01", vendor=vendor)
    add_evidence(d, [{"source": s, "value": v, "weight": 1.0} for s, v in items])
    return d


def values(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(i["source"], i["value"]) for i in items}


# --- Rules are validated data ------------------------------------------------------------


def test_packaged_rules_load_and_cover_every_type() -> None:
    rules = load_rules()
    assert len(rules.rules) >= 50
    typed = {r.type for r in rules.rules if r.type}
    assert typed == set(DeviceType) - {DeviceType.UNKNOWN}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("rules: [{id: a, sources: oui, match: '(', type: workstation, weight: 0.5}]", "regular"),
        ("rules: [{id: a, sources: oui, match: x, type: toaster, weight: 0.5}]", "type"),
        ("rules: [{id: a, sources: oui, match: x, weight: 0.5}]", "proposes no"),
        ("rules: [{id: a, sources: oui, match: x, model: '\\g<m>', weight: 0.5}]", "group"),
        ("rules: [{id: a, sources: oui, match: x, type: workstation, weight: 1.5}]", "weight"),
        (
            "rules: [{id: a, sources: oui, match: x, type: workstation, weight: 1, colour: 3}]",
            "colour",
        ),
        ("rules: [{id: Bad Id, sources: oui, match: x, type: workstation, weight: 1}]", "id"),
        ("rules: {id: a}", "rules"),
    ],
)
def test_invalid_rule_files_are_config_errors(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "mine.yaml").write_text(body)
    with pytest.raises(ConfigError, match=r"mine\.yaml") as info:
        load_rules([tmp_path])
    assert message in str(info.value)


def test_duplicate_rule_ids_and_missing_folders(tmp_path: Path) -> None:
    (tmp_path / "dup.yaml").write_text(
        "rules: [{id: pump.plum-360, sources: oui, match: x, type: workstation, weight: 1}]"
    )
    with pytest.raises(ConfigError, match="appears in"):
        load_rules([tmp_path])
    with pytest.raises(ConfigError, match="does not exist"):
        load_rules([tmp_path / "nowhere"])


def test_users_extend_the_rules_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "site.yaml").write_text(
        "rules:\n"
        "  - id: site.ward-pumps\n"
        "    sources: dhcp.hostname\n"
        "    match: '^(?P<model>ACME-\\d+)-'\n"
        "    type: infusion_pump\n"
        "    manufacturer: Acme Infusion\n"
        "    model: '\\g<model>'\n"
        "    weight: 0.9\n"
    )
    monkeypatch.setenv(RULES_ENV, str(tmp_path))
    default_rules.cache_clear()
    try:
        d = device(("dhcp.hostname", "ACME-7-bed4"))
        classify(d)
        assert (d.type, d.manufacturer, d.model) == ("infusion_pump", "Acme Infusion", "ACME-7")
    finally:
        default_rules.cache_clear()


# --- Evidence from events ----------------------------------------------------------------


def test_hl7_evidence_goes_to_the_sender_and_receiver() -> None:
    message = event(
        "hl7",
        "message",
        ORIG,
        sending_application="PUMP3W014",
        receiving_application="HL7_ENGINE",
        message_type="ORU",
        trigger_event="R01",
        device_ids=[{"field": "PRT-10", "id": "Plum 360", "authority": "ICU Medical"}],
        mdc_codes=["MDC_FLOW_FLUID_PUMP"],
    )
    assert values(evidence_from_event(message, "orig")) == {
        ("hl7.sending_application", "PUMP3W014"),
        ("hl7.sends", "ORU^R01"),
        ("hl7.prt10", "Plum 360"),
        ("hl7.device_authority", "ICU Medical"),
        ("hl7.mdc_code", "MDC_FLOW_FLUID_PUMP"),
    }
    assert values(evidence_from_event(message, "resp")) == {
        ("hl7.receiving_application", "HL7_ENGINE"),
        ("hl7.receives", "ORU^R01"),
    }
    # An ack travels the other way: its sender is the responder.
    ack = event("hl7", "message", RESP, sending_application="HL7_ENGINE", message_type="ACK")
    assert ("hl7.sending_application", "HL7_ENGINE") in values(evidence_from_event(ack, "resp"))
    assert evidence_from_event(event("hl7", "malformed", reason="x"), "orig") == []


def test_dicom_evidence_roles_and_equipment() -> None:
    contexts = [
        {"id": 1, "abstract_syntax": "1.2.840.10008.5.1.4.31"},  # modality worklist
        {"id": 3, "abstract_syntax": "1.2.840.10008.5.1.4.1.1.2"},  # CT storage
    ]
    rq = event(
        "dicom",
        "associate_rq",
        calling_ae="CT_SCANNER_01",
        called_ae="PACS_ARCHIVE",
        presentation_contexts=contexts,
        implementation_version_name="ACME_CT_2",
        implementation_class_uid="1.2.840.113619.6.1",
    )
    orig = values(evidence_from_event(rq, "orig"))
    assert {("dicom.role", "worklist_scu"), ("dicom.role", "storage_scu")} <= orig
    assert ("dicom.ae_title", "CT_SCANNER_01") in orig
    assert ("dicom.implementation_uid", "1.2.840.113619.6.1") in orig
    resp = values(evidence_from_event(rq, "resp"))
    assert resp == {
        ("dicom.ae_title", "PACS_ARCHIVE"),
        ("dicom.role", "scp"),
        ("dicom.role", "storage_scp"),
        ("dicom.role", "worklist_scp"),
    }
    store = {"command": "C-STORE-RQ", "modality": "CT", "manufacturer": "ACME"}
    assert ("dicom.modality", "CT") in values(
        evidence_from_event(event("dicom", "dimse", **store), "orig")
    )
    # C-MOVE sub-operations forward someone else's images: no equipment evidence.
    moved = event("dicom", "dimse", move_originator_ae="RAD_WS_01", **store)
    assert evidence_from_event(moved, "orig") == []
    # C-GET: the images come back from the responder, whose own equipment they are not.
    assert evidence_from_event(event("dicom", "dimse", RESP, **store), "resp") == []


def test_other_protocol_evidence() -> None:
    connect = event("mqtt", "connect", client_id="SPO2-W3-B12")
    assert values(evidence_from_event(connect, "resp")) == {("role", "mqtt_broker")}
    assert ("mqtt.client_id", "SPO2-W3-B12") in values(evidence_from_event(connect, "orig"))
    forwarded = event("mqtt", "publish", RESP, topic="ward/bed1/spo2")
    assert evidence_from_event(forwarded, "orig") == []  # the subscriber did not publish it
    discover = event("dhcp", "discover", op="request", vendor_class="MSFT 5.0", hostname="WS-1")
    assert values(evidence_from_event(discover, "orig")) == {
        ("dhcp.vendor_class", "MSFT 5.0"),
        ("dhcp.hostname", "WS-1"),
    }
    offer = event("dhcp", "offer", RESP, op="reply")
    assert values(evidence_from_event(offer, "resp")) == {("role", "dhcp_server")}
    hello = event("tls", "client_hello", sni="fhir.hospital.example", ja4="t13d")
    assert ("tls.sni", "fhir.hospital.example") in values(evidence_from_event(hello, "orig"))
    fhir = event("http", "response", RESP, server="HAPI FHIR", fhir=True, fhir_resource="Patient")
    assert values(evidence_from_event(fhir, "resp")) == {
        ("http.server", "HAPI FHIR"),
        ("role", "fhir_server"),
    }
    with pytest.raises(ValueError, match="role"):
        evidence_from_event(hello, "client")


# --- Classification ------------------------------------------------------------------------


def _tapirx_obx_message(corpus: Path) -> bytes:
    oracle = corpus / "pcaps" / "hl7" / "tshark_expected" / "tapirx_HL7-ADT-UDI-OBX.pcap.hl7.jsonl"
    first = json.loads(oracle.read_text().splitlines()[0])
    return b"\x0b" + "".join(first["hl7.segment"]).encode("latin-1") + b"\x1c\r"


@pytest.mark.corpus
def test_tapirx_obx18_identifies_a_hospira_plum_pump(corpus: Path) -> None:
    (message,) = HL7Analyzer("C1").feed(ORIG, _tapirx_obx_message(corpus), 1.0)
    sender = Device(key="ip:10.0.0.155", mac=None)
    add_evidence(sender, evidence_from_event(message, "orig"))
    classify(sender)
    assert (sender.type, sender.manufacturer, sender.model) == (
        "infusion_pump",
        "Hospira",
        "Plum A+",
    )
    assert sender.confidence >= 0.9
    obx = next(e for e in sender.evidence if e["source"] == "hl7.obx18")
    assert obx["value"] == "Hospira Plum A+"
    assert "type=infusion_pump" in obx["supports"]


def test_identity_never_flips_on_one_weak_hint() -> None:
    d = device(("hl7.prt10", "Plum 360"), ("hl7.device_authority", "ICU Medical"))
    classify(d)
    assert (d.type, d.manufacturer, d.model) == ("infusion_pump", "ICU Medical", "Plum 360")
    before = d.confidence
    # A browser user agent (weak workstation hint) and a computer-maker OUI.
    add_evidence(d, [{"source": "http.user_agent", "value": "Mozilla/5.0 (Windows NT 10.0)"}])
    d.vendor = "Dell Inc."
    classify(d)
    assert (d.type, d.manufacturer, d.model) == ("infusion_pump", "ICU Medical", "Plum 360")
    assert d.confidence == before


def test_a_weak_hint_alone_does_not_name_a_type() -> None:
    d = device(vendor="Baxter Healthcare")
    classify(d)
    assert d.type == "unknown" and d.confidence == 0.0
    assert d.manufacturer == "Baxter"  # a maker is a lesser claim than a device type
    oui = {"source": "oui", "value": "Baxter Healthcare", "weight": 1.0, "count": 1}
    assert d.evidence == [{**oui, "supports": ["manufacturer=Baxter", "type=infusion_pump"]}]


def test_identity_improves_then_changes_only_on_convincing_evidence() -> None:
    d = device(("dicom.ae_title", "CT_SCANNER_01"), ("dicom.role", "storage_scu"))
    classify(d)
    assert d.type == "imaging_modality"
    first = d.confidence
    add_evidence(d, [{"source": "dicom.role", "value": "worklist_scu"}])
    classify(d)
    assert d.type == "imaging_modality" and d.confidence > first
    # Two moderate archive hints do not overturn it...
    add_evidence(
        d,
        [{"source": "dicom.role", "value": "scp"}, {"source": "service", "value": "dicom_scp"}],
    )
    classify(d)
    assert d.type == "imaging_modality"
    # ...strong, repeated evidence does.
    add_evidence(
        d,
        [
            {"source": "dicom.role", "value": "query_scp"},
            {"source": "dicom.implementation_version", "value": "ORTHANC_1.12"},
            {"source": "dicom.ae_title", "value": "MAIN_PACS"},
            {"source": "dicom.role", "value": "storage_scp"},
        ],
    )
    classify(d)
    assert d.type == "pacs_archive"


def test_classify_is_idempotent_and_folds_duplicates() -> None:
    d = device(("mqtt.client_id", "SPO2-W3-B12"), ("mqtt.topic", "ward3/bed12/spo2"))
    d.evidence.append({"source": "mqtt.topic", "value": "ward3/bed12/spo2", "weight": 1.0})
    d.services.add(("tcp", 1883))
    classify(d)
    snapshot = [dict(e) for e in d.evidence]
    classify(d)
    assert d.evidence == snapshot
    topic = [e for e in d.evidence if e["source"] == "mqtt.topic"]
    assert len(topic) == 1 and topic[0]["count"] == 2
    assert ("service", "mqtt_broker") in values(d.evidence)


def test_nothing_known_stays_unknown() -> None:
    d = device(("http.user_agent", "curl/8.0"))
    classify(d)
    assert (d.type, d.manufacturer, d.model, d.confidence) == ("unknown", None, None, 0.0)


# --- End to end: the recorded hospital network through the analysis pipeline ------------

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "captures"
# Host roles as recorded (tests/fixtures/captures/MANIFEST.md).
EXPECTED = {
    "10.77.0.1": ("network_infrastructure", None, None),
    "10.77.0.10": ("pacs_archive", None, None),
    "10.77.0.11": ("imaging_modality", None, None),
    "10.77.0.12": ("workstation", None, None),
    "10.77.0.20": ("ehr_server", None, None),
    "10.77.0.21": ("hl7_interface_engine", None, None),
    "10.77.0.30": ("infusion_pump", "ICU Medical", "Plum 360"),
    "10.77.0.31": ("patient_monitor", "Philips", "IntelliVue MX450"),
    "10.77.0.40": ("mqtt_broker", None, None),
    "10.77.0.41": ("iomt_sensor", "Masimo", None),
    "10.77.0.42": ("iomt_sensor", None, None),
    "10.77.0.50": ("workstation", None, None),
}


@pytest.fixture(scope="module")
def recorded_devices(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Device], Path]:
    from medsentry.analysis.pipeline import Analysis, AnalysisOptions
    from medsentry.analysis.sinks import JsonlSink

    out = tmp_path_factory.mktemp("identify")
    options = AnalysisOptions(evidence=evidence_from_event, classify=classify)
    analysis = Analysis([JsonlSink(out)], options)
    captures = sorted(FIXTURES.glob("*.pcap"))
    assert len(captures) >= 10
    for capture in captures:
        analysis.analyze_file(capture)
    analysis.finish()
    return analysis.devices(), out


def test_recorded_hospital_devices_are_identified(
    recorded_devices: tuple[list[Device], Path],
) -> None:
    devices, _ = recorded_devices
    by_ip = {ip: d for d in devices for ip in d.ips}
    for ip, (kind, maker, model) in EXPECTED.items():
        d = by_ip[ip]
        assert d.type == kind, (ip, d.type, d.evidence)
        assert d.confidence >= 0.5, ip
        if maker:
            assert d.manufacturer == maker, ip
        if model:
            assert d.model == model, ip
        assert any(e["supports"] for e in d.evidence), ip


def test_recorded_device_records_hold_no_patient_data(
    recorded_devices: tuple[list[Device], Path],
) -> None:
    from medsentry.protocols.phi import find_leaks

    _, out = recorded_devices
    planted = json.loads((FIXTURES / "fake_phi.json").read_text())
    for name in ("devices.jsonl", "events.jsonl"):
        text = (out / name).read_text()
        assert text.strip(), name
        assert find_leaks(text, planted) == [], name
