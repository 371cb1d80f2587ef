"""Fuzzing the HL7, DICOM and HTTP/FHIR analyzers with mutated real connections.

Seeds are the recorded fixtures and the corpus captures. Each example mutates one turn
of a connection; the analyzer must not raise, must keep its buffers bounded and must give
the same events however the bytes are cut. Short in the normal run; ``make fuzz``
(``-m fuzz --hypothesis-profile=long``) runs it longer.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from net_replay import FIXTURES, fuzz_stream, mutated, stream_seeds

from medsentry.protocols import dicom, hl7, http
from medsentry.protocols.dicom import DicomAnalyzer, parse_associate, scan_dataset
from medsentry.protocols.hl7 import HL7Analyzer, parse_message
from medsentry.protocols.http import HttpAnalyzer, fhir_target, peek_resource_type
from medsentry.protocols.phi import catalogue

Seeds = list[list[tuple[int, bytes]]]
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _seeds(corpus: Path, folder: str, fixtures: str, ports: set[int]) -> Seeds:
    paths = sorted((corpus / "pcaps" / folder).glob("*.pcap")) + sorted(FIXTURES.glob(fixtures))
    return stream_seeds(paths, ports)


@pytest.fixture(scope="module")
def hl7_seeds(corpus: Path) -> Seeds:
    found = _seeds(corpus, "hl7", "hl7_*.pcap", {6661, 2575, 7710})
    assert len(found) >= 8
    return found


@pytest.fixture(scope="module")
def dicom_seeds(corpus: Path) -> Seeds:
    found = _seeds(corpus, "dicom", "dicom_*.pcap", {104, 11112, 11113})
    assert len(found) >= 8
    return found


@pytest.fixture(scope="module")
def http_seeds(corpus: Path) -> Seeds:
    found = _seeds(corpus, "http", "fhir_*.pcap", {80, 2082, 8080})
    assert len(found) >= 6
    return found


@pytest.mark.fuzz
@SETTINGS
@given(data=st.data())
def test_mutated_hl7_connections(hl7_seeds: Seeds, data: st.DataObject) -> None:
    fuzz_stream(data, HL7Analyzer, hl7_seeds, limit=2 * (hl7.MAX_MESSAGE + 8))


@pytest.mark.fuzz
@SETTINGS
@given(data=st.data())
def test_mutated_dicom_connections(dicom_seeds: Seeds, data: st.DataObject) -> None:
    per_direction = dicom.MAX_ASSOCIATE_PDU + dicom.MAX_COMMAND + dicom.DATASET_HEAD + 1
    fuzz_stream(data, DicomAnalyzer, dicom_seeds, limit=2 * per_direction)


@pytest.mark.fuzz
@SETTINGS
@given(data=st.data())
def test_mutated_http_connections(http_seeds: Seeds, data: st.DataObject) -> None:
    per_direction = http.MAX_HEADER_BLOCK + http.LOST_KEEP + http.BODY_PEEK + 1
    fuzz_stream(data, HttpAnalyzer, http_seeds, limit=2 * per_direction)


@pytest.mark.fuzz
@SETTINGS
@given(data=st.data())
def test_mutated_hl7_messages_parse(hl7_seeds: Seeds, data: st.DataObject) -> None:
    turns = data.draw(st.sampled_from(hl7_seeds))
    raw = data.draw(st.sampled_from(turns))[1].strip(b"\x0b\x1c\r")
    parsed = parse_message(data.draw(mutated(raw, max_edits=12)))
    assert (parsed.error is None) == bool(parsed.fields)


@pytest.mark.fuzz
@SETTINGS
@given(data=st.data())
def test_mutated_dicom_bodies_parse(dicom_seeds: Seeds, data: st.DataObject) -> None:
    turns = data.draw(st.sampled_from(dicom_seeds))
    payload = data.draw(mutated(data.draw(st.sampled_from(turns))[1], max_edits=12))
    body = payload[6:]
    # A contradiction in the PDU raises the one internal error the analyzer reports.
    with contextlib.suppress(dicom._Malformed):
        parse_associate(body, request=data.draw(st.booleans()))
    syntaxes = [None, "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"]
    syntax = data.draw(st.sampled_from([*syntaxes, "1.2.840.10008.1.2.1.99"]))
    facts = scan_dataset(body, syntax)
    assert facts.error is None or isinstance(facts.error, str)


@pytest.mark.fuzz
@SETTINGS
@given(path=st.text(max_size=200), method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
def test_fhir_paths_keep_their_shape(path: str, method: str) -> None:
    target = fhir_target(path, method)
    # Ids are replaced segment for segment: the shape of the path survives.
    assert target.path.count("/") == path.count("/")
    if target.resource is None:
        assert target.path == path


@pytest.mark.fuzz
@SETTINGS
@given(head=st.binary(max_size=600))
def test_peeked_resource_types_are_known(head: bytes) -> None:
    name = peek_resource_type(b'{"resourceType": "' + head)
    assert name is None or name in catalogue().fhir_resources
