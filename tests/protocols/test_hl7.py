"""HL7 v2 / MLLP analyzer: framing, header fields, acks, device identifiers, PHI flag."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from net_replay import replay, tcp_connections

from medsentry.protocols.base import ORIG, RESP, ProtocolEvent
from medsentry.protocols.hl7 import HEAD_KEEP, MAX_MESSAGE, HL7Analyzer, parse_message

ADT = (
    "MSH|^~\\&|ADT1|GOOD HEALTH HOSPITAL|MIRTH|LAB|198808181126|SECURITY|ADT^A01^ADT_A01|"
    "MSG00001|P|2.5.1\r"
    "EVN|A01|200708181123\r"
    "PID|1||PATID1234^^^GOOD HEALTH HOSPITAL^MR||EVERYMAN^ADAM^A||19610615|M\r"
    "PV1|1|I|2000^2012^01\r"
)
ACK = (
    "MSH|^~\\&|MIRTH|LAB|ADT1|GOOD HEALTH HOSPITAL|20240101||ACK^A01|ACK0001|P|2.5.1\r"
    "MSA|AE|MSG00001\r"
)
PATIENT_STRINGS = ["EVERYMAN", "ADAM", "19610615", "PATID1234"]


def frame(message: str | bytes) -> bytes:
    raw = message.encode("latin-1") if isinstance(message, str) else message
    return b"\x0b" + raw + b"\x1c\r"


def run(chunks: list[tuple[int, bytes]]) -> list[ProtocolEvent]:
    analyzer = HL7Analyzer("C1")
    events: list[ProtocolEvent] = []
    for direction, data in chunks:
        events += analyzer.feed(direction, data, 1.0)
    return events + analyzer.close(2.0)


def comparable(events: list[ProtocolEvent]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.to_json().items() if k != "ts"} for e in events]


def test_header_fields_and_ack() -> None:
    events = run([(ORIG, frame(ADT)), (RESP, frame(ACK))])
    assert [e.kind for e in events] == ["message", "message"]
    msg, ack = events
    assert msg.fields["message_type"] == "ADT"
    assert msg.fields["trigger_event"] == "A01"
    assert msg.fields["message_structure"] == "ADT_A01"
    assert msg.fields["control_id"] == "MSG00001"
    assert msg.fields["version"] == "2.5.1"
    assert msg.fields["sending_application"] == "ADT1"
    assert msg.fields["sending_facility"] == "GOOD HEALTH HOSPITAL"
    assert msg.fields["receiving_application"] == "MIRTH"
    assert msg.fields["segments"] == ["MSH", "EVN", "PID", "PV1"]
    assert msg.phi is True
    assert (ack.direction, ack.fields["ack_code"], ack.fields["ack_control_id"]) == (
        RESP,
        "AE",
        "MSG00001",
    )
    assert ack.phi is False


def test_no_patient_value_in_events() -> None:
    blob = json.dumps([e.to_json() for e in run([(ORIG, frame(ADT))])])
    for needle in PATIENT_STRINGS:
        assert needle not in blob


def test_clinical_obx_value_sets_phi_but_device_only_obx_does_not() -> None:
    head = "MSH|^~\\&|PUMP|ICU|EMR|H|2024||ORU^R01|1|P|2.6\r"
    with_value = parse_message((head + "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||98|%\r").encode())
    empty = parse_message((head + "OBX|1|NM|69985^MDC_DEV_PUMP_INFUS_MDS^MDC||\r").encode())
    assert with_value.phi is True
    assert empty.phi is False
    assert empty.fields["mdc_codes"] == ["MDC_DEV_PUMP_INFUS_MDS"]
    assert with_value.fields["mdc_codes"] == ["MDC_PULS_OXIM_SAT_O2"]


def test_prt_device_identifiers() -> None:
    msg = (
        "MSH|^~\\&|APP|FAC|APP2|FAC2|2024||ORU^R01|77|P|2.8\r"
        "PRT|1|AD||EQUIP^Equipment^HL70912||||||0123456789ABCDEF^EUI-64||||||"
        "Hospira Plum A+||||SN12345||MDC_DEV_PUMP^Infusion pump^MDC\r"
    )
    ids = parse_message(msg.encode()).fields["device_ids"]
    assert {"field": "PRT-10", "id": "0123456789ABCDEF", "authority": "EUI-64"} in ids
    assert {"field": "PRT-16", "id": "Hospira Plum A+"} in ids
    assert {"field": "PRT-20", "id": "SN12345"} in ids
    assert {"field": "PRT-22", "id": "Infusion pump", "authority": "MDC"} in ids


def test_custom_encoding_characters_and_escapes() -> None:
    msg = "MSH#@*$%#SEND\\F\\ER#FAC#RCV#FAC2#2024##ORU@R01#X1#P#2.4\rOBX#1#ST#C##v####" + "#" * 9
    msg += "DEV$F$1@EUI\r"
    fields = parse_message(msg.encode()).fields
    assert fields["encoding_chars"] == "@*$%"
    assert fields["message_type"] == "ORU" and fields["trigger_event"] == "R01"
    assert fields["device_ids"] == [{"field": "OBX-18", "id": "DEV#1", "authority": "EUI"}]
    # "\" is not the escape character here, so it stays as is.
    assert fields["sending_application"] == "SEND\\F\\ER"


def test_many_messages_in_one_chunk_and_filler_between() -> None:
    data = frame(ADT) + b"\r\n" + frame(ACK) + frame(ADT.replace("MSG00001", "MSG00002"))
    events = run([(ORIG, data)])
    assert [e.fields["control_id"] for e in events] == ["MSG00001", "ACK0001", "MSG00002"]


def test_malformed_input_is_reported_and_resynchronised() -> None:
    data = b"garbage" + frame(ADT) + b"\x0bMSH|^~\\&|A" + frame(ACK) + frame(b"NOT HL7")
    events = run([(ORIG, data), (RESP, b"\x0bMSH|^~\\&|tail")])
    kinds = [(e.kind, e.fields.get("reason", e.fields.get("control_id"))) for e in events]
    assert kinds == [
        ("malformed", "7 bytes outside an MLLP frame"),
        ("message", "MSG00001"),
        ("malformed", "MLLP frame restarted before its end block"),
        ("message", "ACK0001"),
        ("malformed", "message does not start with an MSH segment"),
        ("malformed", "connection closed inside an MLLP frame (13 bytes)"),
    ]


def test_gap_drops_the_message_and_resynchronises() -> None:
    analyzer = HL7Analyzer("C1")
    first = frame(ADT)
    assert analyzer.feed(ORIG, first[:40], 1.0) == []
    gap = analyzer.gap(ORIG, 100, 1.0)
    assert [e.fields["reason"] for e in gap] == ["100 bytes missing inside an MLLP frame"]
    # The rest of the broken message is outside any frame; the next one parses.
    events = analyzer.feed(ORIG, first[140:] + frame(ACK), 2.0)
    assert [e.kind for e in events] == ["malformed", "message"]
    assert events[-1].fields["control_id"] == "ACK0001"


def test_huge_message_keeps_its_head_and_scans_the_tail() -> None:
    head = "MSH|^~\\&|LAB|H|EMR|H|2024||MDM^T02|BIG1|P|2.5\rTXA|1|CN\r"
    filler = "ZZZ|" + "A" * 1000 + "\r"
    body = head + filler * (MAX_MESSAGE // 1000 + 10) + "PID|1||X\r"
    analyzer = HL7Analyzer("C1")
    data = frame(body)
    events = []
    for i in range(0, len(data), 65536):
        events += analyzer.feed(ORIG, data[i : i + 65536], 1.0)
    assert len(events) == 1
    event = events[0]
    assert event.fields["control_id"] == "BIG1"
    assert event.fields["truncated"] is True
    assert event.fields["size"] == len(body)
    assert event.phi is True  # the PID segment sits far beyond the kept head
    assert len(analyzer._dirs[ORIG].buf) <= HEAD_KEEP


def test_byte_by_byte_gives_the_same_events() -> None:
    data = frame(ADT) + frame(ACK)
    whole = comparable(run([(ORIG, data)]))
    bytewise = comparable(run([(ORIG, data[i : i + 1]) for i in range(len(data))]))
    assert bytewise == whole
    assert len(whole) == 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(frame(ADT)) * 2), max_size=12))
def test_random_chunking_gives_the_same_events(cuts: list[int]) -> None:
    data = frame(ADT) + b"junk" + frame(ACK)
    points = sorted({c % len(data) for c in cuts} | {0, len(data)})
    chunks = [(ORIG, data[a:b]) for a, b in itertools.pairwise(points)]
    assert comparable(run(chunks)) == comparable(run([(ORIG, data)]))


# --- Against the reference captures and the tshark oracle ------------------------------


def _oracle(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _hl7_captures(corpus: Path) -> list[Path]:
    found = sorted((corpus / "pcaps" / "hl7").glob("*.pcap"))
    assert found, "no HL7 captures in the corpus"
    return found


def _events_of(path: Path) -> list[ProtocolEvent]:
    events: list[ProtocolEvent] = []
    for conn in tcp_connections(path):
        events += replay(HL7Analyzer("C1"), conn)
    return events


@pytest.mark.corpus
def test_message_types_and_control_ids_match_tshark(corpus: Path) -> None:
    for pcap in _hl7_captures(corpus):
        oracle = _oracle(pcap.parent / "tshark_expected" / f"{pcap.name}.hl7.jsonl")
        expected = []
        for row in oracle:
            msh = row["hl7.segment"][0].split("|")
            expected.append((row["hl7.message.type"], row.get("hl7.event.type"), msh[9]))
        events = _events_of(pcap)
        got = [
            (e.fields["message_type"], e.fields["trigger_event"], e.fields["control_id"])
            for e in events
        ]
        assert got == expected, pcap.name
        assert all(e.kind == "message" for e in events)


@pytest.mark.corpus
def test_oracle_segments_rebuilt_as_mllp_give_the_same_fields(corpus: Path) -> None:
    for pcap in _hl7_captures(corpus):
        oracle = _oracle(pcap.parent / "tshark_expected" / f"{pcap.name}.hl7.jsonl")
        rebuilt = [frame("".join(row["hl7.segment"])) for row in oracle]
        events = run([(ORIG, b"".join(rebuilt))])
        assert [e.fields["message_type"] for e in events] == [r["hl7.message.type"] for r in oracle]
        for event, row in zip(events, oracle, strict=True):
            ids = [s[:3] for s in row["hl7.segment"]]
            assert event.fields["segments"] == ids
            assert event.phi is any(i in {"PID", "NK1", "PV1"} for i in ids)


@pytest.mark.corpus
def test_tapirx_device_identifiers(corpus: Path) -> None:
    hl7_dir = corpus / "pcaps" / "hl7"
    expected = {
        "tapirx_HL7-ADT-UDI-OBX.pcap": [{"field": "OBX-18", "id": "Hospira Plum A+"}],
        "tapirx_HL7-ADT.pcap": [],
        "tapirx_HL7-ORM.pcap": [],
    }
    for name, ids in expected.items():
        events = _events_of(hl7_dir / name)
        assert [e.fields["device_ids"] for e in events if e.direction == ORIG] == [ids], name
        blob = json.dumps([e.to_json() for e in events])
        for needle in ("MOUSE", "MICKEY", "19281118", "123 Main", "135769", "ohtoodles"):
            assert needle not in blob, name


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "captures"


def test_recorded_device_messages() -> None:
    """The recorded pump (PRT) and monitor (OBX-18) ORU messages and their acks."""
    by_sender: dict[str, list[ProtocolEvent]] = {}
    for event in _events_of(FIXTURES / "hl7_oru_devices.pcap"):
        assert event.kind == "message"
        by_sender.setdefault(event.fields["sending_application"], []).append(event)
    pump = [e for e in by_sender["PUMP3W014"] if e.fields["message_type"] == "ORU"]
    monitor = [e for e in by_sender["MON3W012"] if e.fields["message_type"] == "ORU"]
    assert pump and monitor
    assert {"field": "PRT-10", "id": "Plum 360", "authority": "ICU Medical"} in pump[0].fields[
        "device_ids"
    ]
    assert any(d["field"] == "PRT-16" for d in pump[0].fields["device_ids"])
    assert "MDC_FLOW_FLUID_PUMP" in pump[0].fields["mdc_codes"]
    assert monitor[0].fields["device_ids"][0]["field"] == "OBX-18"
    assert all(e.phi for e in pump + monitor)
    acks = by_sender["HL7_ENGINE"]
    assert {e.fields["ack_code"] for e in acks} == {"AA"}
    assert {e.fields["ack_control_id"] for e in acks} == {
        e.fields["control_id"] for e in pump + monitor
    }


def test_recorded_split_segments_match_unsplit() -> None:
    """Messages whose TCP segments cut MLLP frames anywhere read like whole ones."""
    events = _events_of(FIXTURES / "hl7_split_segments.pcap")
    assert [e.kind for e in events] == ["message"] * len(events)
    assert {e.fields["message_type"] for e in events} == {"ORU", "ACK"}
    assert all(not e.fields["truncated"] for e in events)
