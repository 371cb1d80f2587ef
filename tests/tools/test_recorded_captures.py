"""The committed recordings: valid pcaps that tshark decodes as the protocols planted in them,
and that really carry the invented patient strings a PHI-safety test will look for.

These tests read the committed files only; they never run the recorder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from tools.record.manifest import DECODE_AS, count_packets
from tools.record.plan import AET_CT, AET_PACS, AET_WS, HOSTS

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "captures"
DEMO = REPO_ROOT / "src" / "medsentry" / "examples" / "hospital_demo.pcap"
FAKE_PHI = json.loads((FIXTURES / "fake_phi.json").read_text())

FIXTURE_FILES = [
    "dhcp.pcap",
    "dns.pcap",
    "dicom_echo_store.pcap",
    "dicom_find_get.pcap",
    "dicom_move.pcap",
    "dicom_abort_reject.pcap",
    "hl7_adt_acks.pcap",
    "hl7_oru_devices.pcap",
    "hl7_split_segments.pcap",
    "hl7_batch.pcap",
    "mqtt311_vitals.pcap",
    "mqtt5_vitals.pcap",
    "fhir_http.pcap",
    "tls.pcap",
]
PCAP_MAGIC_LE_USEC = bytes.fromhex("d4c3b2a1")
ETHERNET = 1

Layers = dict[str, list[str]]


def tshark(path: Path, display_filter: str, fields: list[str]) -> list[Layers]:
    """Decoded packets matching the filter, with the requested fields (tshark -T json)."""
    exe = shutil.which("tshark")
    if exe is None:
        pytest.fail("tshark is not installed (.ci/run installs it)")
    cmd = [exe, "-n", "-r", str(path), "-T", "json", "-Y", display_filter]
    for rule in DECODE_AS:
        cmd += ["-d", rule]
    for field in fields:
        cmd += ["-e", field]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return [packet["_source"]["layers"] for packet in json.loads(proc.stdout or "[]")]


def values(rows: list[Layers], field: str) -> list[str]:
    """All values of a field, trimmed (DICOM pads AE titles to 16 characters)."""
    return [value.strip() for row in rows for value in row.get(field, [])]


def fixture(name: str) -> Path:
    return FIXTURES / name


# -- files -------------------------------------------------------------------------------


def test_fixture_folder_holds_exactly_the_listed_captures() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.pcap")) == sorted(FIXTURE_FILES)
    manifest = (FIXTURES / "MANIFEST.md").read_text()
    for name in FIXTURE_FILES:
        assert f"### {name}" in manifest


@pytest.mark.parametrize(
    "path", [*(FIXTURES / n for n in FIXTURE_FILES), DEMO], ids=lambda p: p.name
)
def test_capture_is_a_complete_ethernet_pcap(path: Path) -> None:
    data = path.read_bytes()
    assert data[:4] == PCAP_MAGIC_LE_USEC
    assert int.from_bytes(data[20:24], "little") == ETHERNET
    budget = 2 * 1024 * 1024 if path == DEMO else 300 * 1024
    assert len(data) <= budget
    frames = tshark(path, "frame", ["frame.number"])
    assert len(frames) == count_packets(path) > 0


# -- per-protocol fixtures ------------------------------------------------------------------


def test_dhcp_fixture_has_full_exchanges_with_fingerprint_options() -> None:
    rows = tshark(
        fixture("dhcp.pcap"),
        "dhcp",
        ["dhcp.option.dhcp", "dhcp.option.vendor_class_id", "dhcp.option.hostname",
         "dhcp.option.request_list_item", "dhcp.option.type"],
    )  # fmt: skip
    assert sorted(set(values(rows, "dhcp.option.dhcp"))) == ["1", "2", "3", "5"]
    assert set(values(rows, "dhcp.option.vendor_class_id")) == {
        "ICUMedical-Plum360-15.1",
        "Masimo-Wearable-SpO2",
        "ESP32-TempPatch",
    }
    assert {"PUMP-3W-014", "SPO2-W3-B12", "TEMP-W3-B14"} <= set(
        values(rows, "dhcp.option.hostname")
    )
    discovers = [r for r in rows if r.get("dhcp.option.dhcp") == ["1"]]
    assert len(discovers) == 3
    # Each device stack asks for a different option list: that is its fingerprint.
    assert len({tuple(r["dhcp.option.request_list_item"]) for r in discovers}) == 3
    for discover in discovers:
        assert "61" in discover["dhcp.option.type"]  # client identifier
    assert "161" in values(rows, "dhcp.option.type")  # the pump's MUD URL


def test_dns_fixture_has_forward_reverse_and_missing_names() -> None:
    rows = tshark(
        fixture("dns.pcap"),
        "dns.flags.response == 1",
        ["dns.qry.name", "dns.qry.type", "dns.flags.rcode", "dns.a"],
    )
    names = set(values(rows, "dns.qry.name"))
    assert {"pacs.hospital.example", "ehr.hospital.example"} <= names
    assert "12" in values(rows, "dns.qry.type")  # PTR
    assert "3" in values(rows, "dns.flags.rcode")  # NXDOMAIN
    assert "10.77.0.10" in values(rows, "dns.a")


def _dicom(name: str) -> tuple[list[Layers], str]:
    rows = tshark(
        fixture(name),
        "dicom",
        ["dicom.pdu.type", "dicom.assoc.ae.calling", "dicom.assoc.ae.called", "_ws.col.Info"],
    )
    return rows, " ".join(values(rows, "_ws.col.Info"))


def test_dicom_echo_store_fixture() -> None:
    rows, info = _dicom("dicom_echo_store.pcap")
    assert values(rows, "dicom.assoc.ae.calling")[0] == AET_CT
    assert values(rows, "dicom.assoc.ae.called")[0] == AET_PACS
    assert "C-ECHO-RQ" in info and "C-ECHO-RSP" in info
    assert info.count("C-STORE-RQ") == 3 and info.count("C-STORE-RSP") == 3
    assert "A-RELEASE request" in info and "A-RELEASE response" in info


def test_dicom_find_get_fixture() -> None:
    rows, info = _dicom("dicom_find_get.pcap")
    assert AET_WS in values(rows, "dicom.assoc.ae.calling")
    assert info.count("C-FIND-RQ ID") == 2
    assert "C-GET-RQ" in info and "C-GET-RSP" in info
    assert "C-STORE-RQ" in info  # the sub-operations on the same association
    assert "A-RELEASE request" in info


def test_dicom_move_fixture_opens_a_sub_association() -> None:
    rows, info = _dicom("dicom_move.pcap")
    assert "C-MOVE-RQ" in info and "C-MOVE-RSP" in info
    callers = values(rows, "dicom.assoc.ae.calling")
    assert AET_WS in callers and AET_PACS in callers  # PACS calls the workstation back
    assert "C-STORE-RQ" in info


def test_dicom_abort_reject_fixture() -> None:
    rows, _ = _dicom("dicom_abort_reject.pcap")
    pdu_types = values(rows, "dicom.pdu.type")
    assert "0x03" in pdu_types  # A-ASSOCIATE-RJ
    assert "0x07" in pdu_types  # A-ABORT
    assert "PACS" in values(rows, "dicom.assoc.ae.called")


def _hl7(name: str) -> list[Layers]:
    return tshark(
        fixture(name),
        "hl7",
        ["hl7.message.type", "hl7.event.type", "hl7.segment", "tcp.segment.count"],
    )


def _ack_codes(rows: list[Layers]) -> list[str]:
    return [s[4:6] for s in values(rows, "hl7.segment") if s.startswith("MSA|")]


def test_hl7_adt_fixture_has_acks_and_naks() -> None:
    rows = _hl7("hl7_adt_acks.pcap")
    assert values(rows, "hl7.message.type").count("ADT") == 3
    assert "MDM" in values(rows, "hl7.message.type")
    assert _ack_codes(rows) == ["AA", "AA", "AE", "AR"]


def test_hl7_oru_fixture_names_devices() -> None:
    rows = _hl7("hl7_oru_devices.pcap")
    assert values(rows, "hl7.message.type").count("ORU") == 5
    segments = values(rows, "hl7.segment")
    assert any(s.startswith("OBX|") and "IntelliVue MX450^Philips" in s for s in segments)
    assert any(s.startswith("PRT|") and "Plum 360^ICU Medical" in s for s in segments)
    assert set(_ack_codes(rows)) == {"AA"}


def test_hl7_split_fixture_spreads_each_message_over_many_segments() -> None:
    rows = _hl7("hl7_split_segments.pcap")
    oru = [r for r in rows if "ORU" in r.get("hl7.message.type", [])]
    assert len(oru) == 2
    for row in oru:
        assert int(row["tcp.segment.count"][0]) >= 10


def test_hl7_batch_fixture_has_several_messages_in_one_segment() -> None:
    rows = _hl7("hl7_batch.pcap")
    assert max(len(r.get("hl7.message.type", [])) for r in rows) >= 3
    assert _ack_codes(rows) == ["AA", "AA", "AE", "AR"]


def test_mqtt311_fixture() -> None:
    rows = tshark(
        fixture("mqtt311_vitals.pcap"),
        "mqtt",
        ["mqtt.msgtype", "mqtt.ver", "mqtt.conack.val", "mqtt.qos", "mqtt.willtopic"],
    )
    assert set(values(rows, "mqtt.ver")) == {"4"}
    kinds = set(values(rows, "mqtt.msgtype"))
    assert {"1", "2", "3", "8", "9", "10", "11", "12", "13", "14"} <= kinds
    assert {"0", "1", "2"} <= set(values(rows, "mqtt.qos"))
    assert "5" in values(rows, "mqtt.conack.val")  # wrong password refused
    assert values(rows, "mqtt.willtopic")


def test_mqtt5_fixture_has_properties_and_a_refusal() -> None:
    rows = tshark(
        fixture("mqtt5_vitals.pcap"),
        "mqtt",
        ["mqtt.ver", "mqtt.connack.reason_code", "mqtt.property.content_type", "mqtt.prop_key"],
    )
    assert set(values(rows, "mqtt.ver")) == {"5"}
    assert "135" in values(rows, "mqtt.connack.reason_code")  # mosquitto: not authorized
    assert "0" in values(rows, "mqtt.connack.reason_code")
    assert "application/json" in values(rows, "mqtt.property.content_type")
    assert {"fw", "unit"} <= set(values(rows, "mqtt.prop_key"))


def test_fhir_fixture() -> None:
    rows = tshark(
        fixture("fhir_http.pcap"),
        "http",
        ["http.request.method", "http.request.uri", "http.response.code", "http.content_type"],
    )
    assert values(rows, "http.request.method").count("POST") == 1
    assert "/fhir/Patient/123" in values(rows, "http.request.uri")
    assert {"200", "201", "404"} <= set(values(rows, "http.response.code"))
    assert any(v.startswith("application/fhir+json") for v in values(rows, "http.content_type"))


def test_tls_fixture_has_sni_and_hides_patient_data() -> None:
    rows = tshark(
        fixture("tls.pcap"), "tls.handshake.type == 1", ["tls.handshake.extensions_server_name"]
    )
    assert values(rows, "tls.handshake.extensions_server_name") == [
        "ehr.hospital.example",
        "fhir.hospital.example",
    ]
    data = fixture("tls.pcap").read_bytes()
    assert not [s for s in FAKE_PHI if s.encode() in data]


# -- the demo --------------------------------------------------------------------------------


def test_demo_has_every_planned_device_and_protocol() -> None:
    rows = tshark(DEMO, "eth", ["eth.src", "_ws.col.Protocol"])
    assert set(values(rows, "eth.src")) == {h.mac for h in HOSTS}
    protocols = set(values(rows, "_ws.col.Protocol"))
    assert {"DHCP", "DNS", "DICOM", "HL7", "MQTT", "HTTP", "ARP"} <= protocols
    assert protocols & {"TLSv1.2", "TLSv1.3"}
    sni = tshark(DEMO, "tls.handshake.type == 1", ["tls.handshake.extensions_server_name"])
    assert set(values(sni, "tls.handshake.extensions_server_name")) == {
        "ehr.hospital.example",
        "fhir.hospital.example",
    }


# -- planted fake patient data ----------------------------------------------------------------


def test_fake_phi_list_is_distinctive() -> None:
    assert FAKE_PHI and all(isinstance(s, str) and len(s) >= 8 for s in FAKE_PHI)
    assert len(set(FAKE_PHI)) == len(FAKE_PHI)


def test_every_fake_phi_string_is_really_in_the_captures() -> None:
    blobs = [p.read_bytes() for p in FIXTURES.glob("*.pcap")] + [DEMO.read_bytes()]
    missing = [s for s in FAKE_PHI if not any(s.encode() in blob for blob in blobs)]
    assert missing == []


@pytest.mark.parametrize(
    ("name", "planted"),
    [
        ("dicom_echo_store.pcap", ["TESTPATIENT^ALPHA", "FAKE0001", "19710315", "100 FAKE STREET"]),
        ("dicom_find_get.pcap", ["TESTPATIENT^BRAVO", "FAKE0002"]),
        ("hl7_adt_acks.pcap", ["TESTPATIENT^ALPHA", "EXAMPLEPERSON^CHARLIE", "SAMPLETON"]),
        ("hl7_oru_devices.pcap", ["FAKE0002", "FAKE0003", "19931203"]),
        ("mqtt311_vitals.pcap", ["FAKE0002"]),
        ("mqtt5_vitals.pcap", ["FAKE0003"]),
        ("fhir_http.pcap", ["TESTPATIENT", "1971-03-15", "TESTVILLE", "FAKE0001"]),
        ("hospital_demo.pcap", ["TESTPATIENT^ALPHA", "TESTPATIENT^BRAVO", "FAKE0003"]),
    ],
)
def test_fixture_carries_its_fake_patient_strings(name: str, planted: list[str]) -> None:
    path = DEMO if name == DEMO.name else fixture(name)
    data = path.read_bytes()
    for text in planted:
        assert text in FAKE_PHI
        assert text.encode() in data
