"""PHI helpers: the catalogue, identifier cleaning, query stripping, leak scanning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flow_bytes import first_payloads
from net_replay import replay, tcp_connections

from medsentry.errors import ConfigError
from medsentry.protocols.detect import ANALYZERS, guess_protocol
from medsentry.protocols.phi import (
    catalogue,
    find_leaks,
    load_catalogue,
    redact,
    safe_identifier,
    split_target,
)


def test_catalogue_lists() -> None:
    cat = catalogue()
    assert {"PID", "NK1", "PV1"} <= cat.hl7_segments
    assert cat.hl7_value_fields["OBX"] == 5
    assert cat.dicom_tag_is_phi(0x00100010)  # Patient's Name
    assert cat.dicom_tag_is_phi(0x00380010)  # Admission ID, outside group 0010
    assert not cat.dicom_tag_is_phi(0x00080060)  # Modality
    assert {"Patient", "Observation", "Encounter"} <= cat.fhir_patient_resources
    assert "Device" in cat.fhir_resources and "Device" not in cat.fhir_patient_resources
    assert not cat.fhir_patient_resources & cat.fhir_other_resources


def test_invalid_catalogue_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "phi.yaml"
    bad.write_text("hl7_segments: [pid]\ndicom_groups: ['0010']\nfhir_patient_resources: []\n")
    with pytest.raises(ConfigError, match=r"phi\.yaml is invalid"):
        load_catalogue(bad)
    bad.write_text("hl7_segments: [PID]\n")
    with pytest.raises(ConfigError, match="invalid"):
        load_catalogue(bad)


def test_safe_identifier_and_redact() -> None:
    assert safe_identifier("  CT_SCANNER\x00\x1b[31m ") == "CT_SCANNER[31m"
    assert len(safe_identifier("x" * 500)) == 128
    assert redact("DOE^JOHN") == "[redacted 8 chars]"


def test_split_target_keeps_parameter_names_only() -> None:
    path, names = split_target("/fhir/Patient?family=Doe&given=John&birthdate=1970-01-01&family=X")
    assert path == "/fhir/Patient"
    assert names == ["family", "given", "birthdate"]
    assert split_target("http://u:pw@host:8080/a/b?x=1#frag") == ("/a/b", ["x"])
    assert split_target("/p#frag?x=1") == ("/p", [])
    assert split_target("/q?flag&%6Eame=v") == ("/q", ["flag", "name"])


def test_find_leaks() -> None:
    out = '{"name": "Doe   JOHN", "n": 1}'
    assert find_leaks(out, ["doe john", "Smith", "x"]) == ["doe john"]
    assert find_leaks(out.encode(), ["JOHN"]) == ["JOHN"]


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "captures"


def test_recorded_fixtures_leak_no_planted_patient_string() -> None:
    """Every HL7, DICOM and FHIR flow of the recorded fixtures, through detection and the
    analyzers: the events carry PHI flags, never the planted patient strings."""
    planted = json.loads((FIXTURES / "fake_phi.json").read_text())
    assert len(planted) >= 10
    seen: dict[str, int] = {}
    flagged = 0
    for pcap in sorted(FIXTURES.glob("*.pcap")):
        for conn in tcp_connections(pcap):
            orig, resp = first_payloads(conn)
            name = guess_protocol(orig, resp, conn.orig[1], conn.resp[1])
            if name not in ("hl7", "dicom", "http"):
                continue
            events = replay(ANALYZERS[name](pcap.stem), conn)
            seen[name] = seen.get(name, 0) + len(events)
            flagged += sum(e.phi for e in events)
            blob = json.dumps([e.to_json() for e in events])
            assert find_leaks(blob, planted) == [], pcap.name
            # The same check must be able to fail: the raw bytes do hold planted strings.
            if any(e.phi for e in events):
                raw = conn.stream(0) + conn.stream(1)
                assert find_leaks(raw, planted), pcap.name
    assert set(seen) == {"hl7", "dicom", "http"}
    assert flagged > 20
