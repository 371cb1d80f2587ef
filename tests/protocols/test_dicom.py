"""DICOM upper layer / DIMSE analyzer, on real pynetdicom sessions and crafted PDUs."""

from __future__ import annotations

import itertools
import json
import re
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from net_replay import replay, tcp_connections
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE, evt
from pynetdicom.pdu_primitives import UserIdentityNegotiation
from pynetdicom.sop_class import (
    CTImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)
from tcp_relay import TcpRelay

from medsentry.protocols.base import ORIG, RESP, ProtocolEvent
from medsentry.protocols.dicom import DATASET_HEAD, DicomAnalyzer, scan_dataset
from medsentry.protocols.dicom_uids import is_valid_uid, uid_name

PATIENT = {
    "PatientName": "RELAYTEST^PATIENT",
    "PatientID": "RLY0001",
    "PatientBirthDate": "19500101",
}
Chunks = list[tuple[int, bytes]]


def ct_image() -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "CT"
    ds.Manufacturer = "ACME Imaging"
    ds.ManufacturerModelName = "Scanner 9000"
    ds.StationName = "CT01"
    ds.SoftwareVersions = "VE11"
    for key, value in PATIENT.items():
        setattr(ds, key, value)
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(128)
    return ds


def _find_answers(event: evt.Event) -> Any:
    answer = Dataset()
    answer.QueryRetrieveLevel = "STUDY"
    answer.PatientName = PATIENT["PatientName"]
    answer.StudyInstanceUID = generate_uid()
    yield 0xFF00, answer


@pytest.fixture(scope="module")
def sessions() -> list[Chunks]:
    """Three real associations through a recording relay: a full exchange, a rejected
    association and an aborted one."""
    scp = AE(ae_title="SCP_TEST")
    scp.require_called_aet = True
    scp.add_supported_context(Verification)
    scp.add_supported_context(CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    scp.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    handlers = [
        (evt.EVT_C_ECHO, lambda event: 0x0000),
        (evt.EVT_C_STORE, lambda event: 0x0000),
        (evt.EVT_C_FIND, _find_answers),
    ]
    server = scp.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    assert server is not None
    try:
        with TcpRelay(server.server_address[1]) as relay:
            scu = AE(ae_title="SCU_TEST")
            scu.add_requested_context(Verification)
            scu.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
            scu.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
            identity = UserIdentityNegotiation()
            identity.user_identity_type = 2
            identity.primary_field = b"radtech"
            identity.secondary_field = b"s3cret-passcode"
            assoc = scu.associate("127.0.0.1", relay.port, ae_title="SCP_TEST", ext_neg=[identity])
            assert assoc.is_established
            assert assoc.send_c_echo().Status == 0
            assert assoc.send_c_store(ct_image()).Status == 0
            query = Dataset()
            query.QueryRetrieveLevel = "STUDY"
            query.PatientName = "RELAYTEST*"
            query.StudyInstanceUID = ""
            statuses = [
                s.Status
                for s, _ in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind)
            ]
            assert statuses == [0xFF00, 0x0000]
            wildcard = Dataset()
            wildcard.QueryRetrieveLevel = "STUDY"
            wildcard.PatientName = "*"
            wildcard.PatientID = ""
            list(assoc.send_c_find(wildcard, StudyRootQueryRetrieveInformationModelFind))
            assoc.release()
            assert scu.associate("127.0.0.1", relay.port, ae_title="WRONG_AE").is_rejected
            aborted = scu.associate("127.0.0.1", relay.port, ae_title="SCP_TEST")
            assert aborted.is_established
            aborted.abort()
    finally:
        server.shutdown()
    assert len(relay.connections) == 3
    return relay.connections


def run(chunks: Chunks) -> list[ProtocolEvent]:
    analyzer = DicomAnalyzer("C1")
    events: list[ProtocolEvent] = []
    for direction, data in chunks:
        events += analyzer.feed(direction, data, 1.0)
    return events + analyzer.close(2.0)


def comparable(events: list[ProtocolEvent]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.to_json().items() if k != "ts"} for e in events]


def test_full_association(sessions: list[Chunks]) -> None:
    events = run(sessions[0])
    summary = [(e.kind, e.direction, e.fields.get("command")) for e in events]
    assert summary == [
        ("associate_rq", ORIG, None),
        ("associate_ac", RESP, None),
        ("dimse", ORIG, "C-ECHO-RQ"),
        ("dimse", RESP, "C-ECHO-RSP"),
        ("dimse", ORIG, "C-STORE-RQ"),
        ("dimse", RESP, "C-STORE-RSP"),
        ("dimse", ORIG, "C-FIND-RQ"),
        ("dimse", RESP, "C-FIND-RSP"),
        ("dimse", RESP, "C-FIND-RSP"),
        ("dimse", ORIG, "C-FIND-RQ"),
        ("dimse", RESP, "C-FIND-RSP"),
        ("dimse", RESP, "C-FIND-RSP"),
        ("release_rq", ORIG, None),
        ("release_rp", RESP, None),
    ]
    rq, ac, _, echo_rsp, store, store_rsp, find, pending, done, wild, *_ = events
    assert (rq.fields["calling_ae"], rq.fields["called_ae"]) == ("SCU_TEST", "SCP_TEST")
    assert [c["abstract_syntax_name"] for c in rq.fields["presentation_contexts"]] == [
        "Verification SOP Class",
        "CT Image Storage",
        "Study Root Query/Retrieve Information Model - FIND",
    ]
    assert rq.fields["user_identity"] == "username-passcode"
    assert rq.fields["implementation_class_uid"].startswith("1.2.826.0.1.3680043.9.3811.")
    assert rq.fields["implementation_version_name"].startswith("PYNETDICOM")
    assert ac.fields["accepted_contexts"] == 3
    assert ac.fields["presentation_contexts"][1] == {
        "id": 3,
        "result": 0,
        "result_name": "acceptance",
        "transfer_syntax": ExplicitVRLittleEndian,
        "abstract_syntax": CTImageStorage,
        "abstract_syntax_name": "CT Image Storage",
    }
    assert echo_rsp.fields["status_category"] == "success"
    assert store.phi is True
    assert store.fields["affected_sop_class"] == "CT Image Storage"
    assert store.fields["has_dataset"] is True
    assert store.fields["dataset_bytes"] > 128
    assert {k: store.fields[k] for k in ("modality", "manufacturer", "model", "station_name")} == {
        "modality": "CT",
        "manufacturer": "ACME Imaging",
        "model": "Scanner 9000",
        "station_name": "CT01",
    }
    assert store.fields["software_versions"] == "VE11"
    assert store_rsp.phi is False and store_rsp.fields["status"] == 0
    assert find.phi is True and find.fields["query_level"] == "STUDY"
    assert pending.phi is True and pending.fields["status_category"] == "pending"
    assert done.phi is False and done.fields["status_category"] == "success"
    assert wild.phi is False  # only wildcards and empty return keys: no patient data


def test_rejected_and_aborted_associations(sessions: list[Chunks]) -> None:
    rejected = run(sessions[1])
    assert [e.kind for e in rejected] == ["associate_rq", "associate_rj"]
    assert rejected[1].fields["reason_name"] == "called-ae-title-not-recognized"
    assert rejected[1].fields["result_name"] == "rejected-permanent"
    aborted = run(sessions[2])
    assert [e.kind for e in aborted] == ["associate_rq", "associate_ac", "abort"]
    assert aborted[2].fields["source_name"] == "service-user"


def test_no_patient_value_or_credential_in_events(sessions: list[Chunks]) -> None:
    blob = json.dumps([e.to_json() for s in sessions for e in run(s)])
    for needle in [*PATIENT.values(), "RELAYTEST", "radtech", "s3cret"]:
        assert needle not in blob


def test_byte_by_byte_gives_the_same_events(sessions: list[Chunks]) -> None:
    chunks = sessions[0]
    bytewise = [(d, data[i : i + 1]) for d, data in chunks for i in range(len(data))]
    assert comparable(run(bytewise)) == comparable(run(chunks))


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=5000), max_size=30))
def test_random_chunking_gives_the_same_events(sessions: list[Chunks], cuts: list[int]) -> None:
    chunks = sessions[0]
    expected = comparable(run(chunks))
    # Re-cut the concatenation of each run of same-direction chunks at random points.
    rechunked: Chunks = []
    cut_iter = itertools.cycle(cuts or [7])
    for direction, group in itertools.groupby(chunks, key=lambda c: c[0]):
        data = b"".join(d for _, d in group)
        pos = 0
        while pos < len(data):
            step = next(cut_iter)
            rechunked.append((direction, data[pos : pos + step]))
            pos += step
    assert comparable(run(rechunked)) == expected


# --- Crafted PDUs: streaming, limits, malformed input ------------------------------------


def encode(ds: Dataset, implicit: bool = True, little: bool = True) -> bytes:
    fp = DicomBytesIO()
    fp.is_implicit_VR = implicit
    fp.is_little_endian = little
    write_dataset(fp, ds)
    return fp.getvalue()


def command(field: int, sop_class: str, has_dataset: bool, message_id: int = 7) -> bytes:
    ds = Dataset()
    ds.AffectedSOPClassUID = sop_class
    ds.CommandField = field
    ds.MessageID = message_id
    ds.CommandDataSetType = 0x0000 if has_dataset else 0x0101
    return encode(ds)


def pdv(context: int, is_command: bool, last: bool, value: bytes) -> bytes:
    header = (1 if is_command else 0) | (2 if last else 0)
    return struct.pack(">IBB", len(value) + 2, context, header) + value


def p_data(*pdvs: bytes) -> bytes:
    body = b"".join(pdvs)
    return struct.pack(">BBI", 4, 0, len(body)) + body


RELEASE_RQ = bytes.fromhex("05000000000400000000")


def test_huge_data_set_is_streamed_not_buffered() -> None:
    ds = ct_image()
    ds.PixelData = bytes(20 * 1024 * 1024)
    data = encode(ds)
    stream = p_data(pdv(1, True, True, command(0x0001, CTImageStorage, True)))
    # Fragments of 1 MB in separate P-DATA-TF PDUs, as a real sender with a large max PDU.
    size = 1024 * 1024
    for pos in range(0, len(data), size):
        stream += p_data(pdv(1, False, pos + size >= len(data), data[pos : pos + size]))
    analyzer = DicomAnalyzer("C1")
    events: list[ProtocolEvent] = []
    for pos in range(0, len(stream), 256 * 1024):
        events += analyzer.feed(ORIG, stream[pos : pos + 256 * 1024], 1.0)
        direction_state = analyzer._dirs[ORIG]
        assert len(direction_state.buf) < 64 * 1024
        if direction_state.message is not None:
            assert len(direction_state.message.dataset_head) <= DATASET_HEAD
    assert [e.fields["command"] for e in events] == ["C-STORE-RQ"]
    assert events[0].phi is True
    assert events[0].fields["dataset_bytes"] == len(data)
    assert events[0].fields["transfer_syntax_guessed"] is True


def test_unknown_pdu_type_resynchronises_on_the_next_pdu() -> None:
    echo = p_data(pdv(1, True, True, command(0x0030, Verification, False)))
    events = run([(ORIG, b"\x09\x00\x00\x00\x00\x02zz" + b"noise" + echo + RELEASE_RQ)])
    assert [(e.kind, e.fields.get("reason")) for e in events] == [
        ("malformed", "unknown PDU type 0x09"),
        ("dimse", None),
        ("release_rq", None),
    ]


def test_gap_inside_a_data_set_keeps_pdu_boundaries() -> None:
    value = encode(ct_image())
    stream = p_data(pdv(1, True, True, command(0x0001, CTImageStorage, True)))
    stream += p_data(pdv(1, False, True, value))
    cut = len(stream) - len(value) + 20  # 20 bytes into the data set value
    analyzer = DicomAnalyzer("C1")
    events = analyzer.feed(ORIG, stream[:cut], 1.0)
    events += analyzer.gap(ORIG, 100, 1.0)
    events += analyzer.feed(ORIG, stream[cut + 100 :] + RELEASE_RQ, 1.0)
    assert [e.kind for e in events] == ["dimse", "release_rq"]
    assert events[0].fields["dataset_gap"] is True
    assert events[0].fields["dataset_bytes"] == len(value)


def test_gap_over_a_header_loses_sync_then_recovers() -> None:
    echo = p_data(pdv(1, True, True, command(0x0030, Verification, False)))
    analyzer = DicomAnalyzer("C1")
    events = analyzer.feed(ORIG, echo[:3], 1.0)
    events += analyzer.gap(ORIG, 50, 1.0)
    events += analyzer.feed(ORIG, echo[53:] + echo + RELEASE_RQ, 1.0)
    events += analyzer.close(2.0)
    assert [e.kind for e in events] == ["malformed", "dimse", "release_rq"]
    assert events[0].fields["reason"] == "50 bytes missing; PDU boundary lost"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x01\x00\x00\x00\x00\x10" + bytes(16), "A-ASSOCIATE PDU length 16 out of range"),
        (b"\x05\x00\x00\x00\x00\x09" + bytes(9), "release_rq PDU length 9 is not 4"),
        (
            b"\x01\x00\x00\x00\x00\x48\x00\x01" + bytes(66) + b"\x10\x00\x00\x09abc",
            "associate_rq: item 0x10 overruns its PDU",
        ),
        (
            b"\x01\x00\x00\x00\x00\x44\x00\x01" + bytes(66),
            "associate_rq: A-ASSOCIATE-RQ without presentation contexts",
        ),
        (p_data(b"\x00\x00\x00\x09\x01\x03"), "PDV length does not fit its P-DATA-TF"),
        (
            p_data(pdv(1, True, True, b"\x08\x00\x16\x00\x02\x00\x00\x001.")),
            "command set: element (0008,0016) in a command set",
        ),
        (
            p_data(pdv(1, True, True, b"\x00\x00\x00\x01\x02\x00")),
            "command set: trailing bytes after the last command element",
        ),
        (b"\x04\x00\x00\x00\x00\x10\x00\x00", "connection closed inside a PDU"),
    ],
)
def test_malformed_pdus_are_reported(data: bytes, reason: str) -> None:
    events = run([(ORIG, data)])
    assert any(e.kind == "malformed" and e.fields["reason"] == reason for e in events), events


# --- Data set scanning ------------------------------------------------------------------


def _with_sequence(undefined: bool) -> Dataset:
    ds = Dataset()
    item = Dataset()
    item.CodeValue = "X1"
    item.CodingSchemeDesignator = "L"
    ds.ProcedureCodeSequence = Sequence([item])
    ds.ProcedureCodeSequence.is_undefined_length = undefined
    item.is_undefined_length_sequence_item = undefined
    ds.Modality = "MR"
    ds.PatientID = "SCANTEST01"
    return ds


@pytest.mark.parametrize("undefined", [True, False])
@pytest.mark.parametrize(
    ("implicit", "little", "ts"),
    [
        (True, True, ImplicitVRLittleEndian),
        (False, True, ExplicitVRLittleEndian),
        (False, False, "1.2.840.10008.1.2.2"),
        (True, True, None),
        (False, True, None),
    ],
)
def test_scan_walks_sequences_in_every_encoding(
    undefined: bool, implicit: bool, little: bool, ts: str | None
) -> None:
    facts = scan_dataset(encode(_with_sequence(undefined), implicit, little), ts)
    assert facts.error is None
    assert facts.phi is True
    assert facts.values == {"modality": "MR"}


def test_scan_inflates_deflated_data_sets() -> None:
    raw = encode(_with_sequence(True), implicit=False)
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    deflated = packer.compress(raw) + packer.flush()
    facts = scan_dataset(deflated, "1.2.840.10008.1.2.1.99")
    assert (facts.phi, facts.values) == (True, {"modality": "MR"})


def test_scan_without_patient_tags_and_with_garbage() -> None:
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.SeriesInstanceUID = generate_uid()
    facts = scan_dataset(encode(ds), ImplicitVRLittleEndian)
    assert (facts.phi, facts.values) == (False, {"query_level": "SERIES"})
    bad = scan_dataset(b"\x08\x00\x60\x00QQ\x02\x00CT", ExplicitVRLittleEndian)
    assert bad.error == "invalid VR"


# --- Against the reference captures and the tshark oracle ------------------------------


def _named(values: list[str]) -> list[tuple[str, str]]:
    """tshark's "Name (uid)" strings as (name, uid)."""
    out = []
    for value in values:
        match = re.fullmatch(r"(.*) \(([0-9.]+)\)", value)
        assert match, value
        out.append((match.group(1), match.group(2)))
    return out


@pytest.mark.corpus
def test_associate_requests_match_tshark(corpus: Path) -> None:
    captures = sorted((corpus / "pcaps" / "dicom").glob("*.pcap"))
    assert captures
    for pcap in captures:
        oracle_path = pcap.parent / "tshark_expected" / f"{pcap.name}.dicom.jsonl"
        oracle = [json.loads(line) for line in oracle_path.read_text().splitlines() if line]
        events = []
        for conn in tcp_connections(pcap):
            events += replay(DicomAnalyzer("C1"), conn)
        assert [e.kind for e in events] == ["associate_rq"] * len(oracle), pcap.name
        for event, row in zip(events, oracle, strict=True):
            f = event.fields
            assert f["calling_ae"] == row["dicom.assoc.ae.calling"].strip()
            assert f["called_ae"] == row["dicom.assoc.ae.called"].strip()
            assert f["application_context"] == _named([row["dicom.actx"]])[0][1]
            assert f["max_pdu_length"] == int(row["dicom.max_pdu_len"])
            assert f["implementation_class_uid"] == row["dicom.userinfo.uid"]
            assert f["implementation_version_name"] == row["dicom.userinfo.version"]
            contexts = f["presentation_contexts"]
            assert [c["id"] for c in contexts] == [int(x, 16) for x in row["dicom.pctx.id"]]
            abstract = _named(row["dicom.pctx.abss.syntax"])
            assert [c["abstract_syntax"] for c in contexts] == [uid for _, uid in abstract]
            for context, (name, _) in zip(contexts, abstract, strict=True):
                assert name in (
                    context["abstract_syntax_name"],
                    context["abstract_syntax_name"] + " (Retired)",
                )
            transfer = [uid for _, uid in _named(row["dicom.pctx.xfer.syntax"])]
            assert [t for c in contexts for t in c["transfer_syntaxes"]] == transfer
            assert event.phi is False


@pytest.mark.corpus
def test_tapirx_calling_ae_identifiers(corpus: Path) -> None:
    expected = {
        "tapirx_dicom_arq_1_find_testclient.pcap": ("testclient", "testserver"),
        "tapirx_dicom_arq_3_find_bogus_local.pcap": ("bogus_local", "bogus_remote"),
        # The file name says bogus_local, the PDU says otherwise; the bytes win.
        "tapirx_dicom_arq_4_get_bogus_local.pcap": ("testclient", "testserver"),
    }
    for name, (calling, called) in expected.items():
        (conn,) = tcp_connections(corpus / "pcaps" / "dicom" / name)
        (event,) = replay(DicomAnalyzer("C1"), conn)
        assert (event.fields["calling_ae"], event.fields["called_ae"]) == (calling, called)


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "captures"


def _fixture(name: str) -> list[list[ProtocolEvent]]:
    return [replay(DicomAnalyzer("C1"), conn) for conn in tcp_connections(FIXTURES / name)]


def test_recorded_store_session() -> None:
    (events,) = _fixture("dicom_echo_store.pcap")
    stores = [e for e in events if e.fields.get("command") == "C-STORE-RQ"]
    assert len(stores) == 3 and all(e.phi for e in stores)
    assert {e.fields["modality"] for e in stores} == {"CT"}
    assert events[0].fields["calling_ae"] == "CT_SCANNER_01"
    assert events[0].fields["called_ae"] == "PACS_ARCHIVE"
    assert not any(e.kind == "malformed" for e in events)


def test_recorded_get_and_move_sessions() -> None:
    (get,) = _fixture("dicom_find_get.pcap")
    commands = [e.fields.get("command") for e in get if e.kind == "dimse"]
    assert "C-GET-RQ" in commands and "C-GET-RSP" in commands
    # C-GET brings the instances back as C-STORE requests from the SCP, on the same flow.
    assert [e.direction for e in get if e.fields.get("command") == "C-STORE-RQ"] == [RESP, RESP]
    assert get[0].fields["role_selection"]
    final = [e for e in get if e.fields.get("command") == "C-GET-RSP"][-1]
    assert final.fields["status_category"] == "success"
    assert final.fields["completed_sub_operations"] == 2
    move, sub = _fixture("dicom_move.pcap")
    move_rq = next(e for e in move if e.fields.get("command") == "C-MOVE-RQ")
    assert move_rq.fields["move_destination"] == "RAD_WS_01"
    assert sub[0].fields["called_ae"] == "RAD_WS_01"
    assert all(e.kind != "malformed" for e in move + sub)


def test_invalid_uids_are_kept_but_not_named() -> None:
    """A UID component with a leading zero is invalid (PS3.5 9.1); found by fuzzing."""
    assert is_valid_uid("1.2.840.10008.3.1.1.1") and is_valid_uid("0.1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not is_valid_uid("1.2.840.0008.3.1.1.1")
        assert uid_name("1.2.840.0008.3.1.1.1") is None
        assert uid_name("1.2.840.10008.3.1.1.1") == "DICOM Application Context Name"
