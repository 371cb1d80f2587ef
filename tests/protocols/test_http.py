"""HTTP/1.x analyzer with FHIR awareness: framing, pairing, path hygiene, PHI flag."""

from __future__ import annotations

import http.client
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from net_replay import replay, tcp_connections
from tcp_relay import TcpRelay

from medsentry.protocols.base import ORIG, RESP, ProtocolEvent
from medsentry.protocols.http import HttpAnalyzer, fhir_target, peek_resource_type

Chunks = list[tuple[int, bytes]]
FAKE = ["HTTPTESTFAMILY", "HTTPTESTGIVEN", "1966-06-06", "MRN-HTTP-77", "pt-8841"]


def run(chunks: Chunks) -> list[ProtocolEvent]:
    analyzer = HttpAnalyzer("C1")
    events: list[ProtocolEvent] = []
    for direction, data in chunks:
        events += analyzer.feed(direction, data, 1.0)
    return events + analyzer.close(2.0)


def comparable(events: list[ProtocolEvent]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.to_json().items() if k != "ts"} for e in events]


# --- A real client and server exchanging FHIR-style resources ---------------------------


def _patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "pt-8841",
        "identifier": [{"value": "MRN-HTTP-77"}],
        "name": [{"family": "HTTPTESTFAMILY", "given": ["HTTPTESTGIVEN"]}],
        "birthDate": "1966-06-06",
    }


class _FhirHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TestFHIR/1.0"

    def _send(self, status: int, body: dict[str, Any] | None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/fhir+json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/fhir/metadata":
            self._send(200, {"resourceType": "CapabilityStatement", "status": "active"})
        elif path == "/fhir/Patient/pt-8841":
            self._send(200, _patient())
        elif path == "/fhir/Patient":
            entry = [{"resource": _patient()}]
            self._send(200, {"resourceType": "Bundle", "type": "searchset", "entry": entry})
        elif path == "/fhir/Device/pump-1":
            self._send(200, {"resourceType": "Device", "id": "pump-1", "modelNumber": "A+"})
        else:
            self._send(404, {"resourceType": "OperationOutcome"})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self._send(201, None)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def fhir_session() -> Chunks:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FhirHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with TcpRelay(server.server_address[1]) as relay:
            conn = http.client.HTTPConnection("127.0.0.1", relay.port, timeout=10)
            headers = {"Accept": "application/fhir+json", "User-Agent": "ward-client/2.1"}
            for target in (
                "/fhir/metadata",
                "/fhir/Patient/pt-8841",
                "/fhir/Patient?family=HTTPTESTFAMILY&birthdate=1966-06-06",
                "/fhir/Device/pump-1",
            ):
                conn.request("GET", target, headers=headers)
                conn.getresponse().read()
            observation = {
                "resourceType": "Observation",
                "subject": {"reference": "Patient/pt-8841"},
                "valueQuantity": {"value": 98},
            }
            conn.request(
                "POST",
                "/fhir/Observation",
                body=json.dumps(observation),
                headers={
                    **headers,
                    "Content-Type": "application/fhir+json",
                    "Authorization": "Basic aHR0cHVzZXI6aHR0cHB3",
                },
            )
            conn.getresponse().read()
            conn.close()
    finally:
        server.shutdown()
    (chunks,) = relay.connections
    return chunks


def test_fhir_exchange(fhir_session: Chunks) -> None:
    events = run(fhir_session)
    rows = [
        (e.kind, e.fields.get("method"), e.fields["path"], e.fields["fhir_resource"], e.phi)
        for e in events
    ]
    assert rows == [
        ("request", "GET", "/fhir/metadata", None, False),
        ("response", "GET", "/fhir/metadata", "CapabilityStatement", False),
        ("request", "GET", "/fhir/Patient/{id}", "Patient", True),
        ("response", "GET", "/fhir/Patient/{id}", "Patient", True),
        ("request", "GET", "/fhir/Patient", "Patient", True),
        ("response", "GET", "/fhir/Patient", "Bundle", True),
        ("request", "GET", "/fhir/Device/{id}", "Device", False),
        ("response", "GET", "/fhir/Device/{id}", "Device", False),
        ("request", "POST", "/fhir/Observation", "Observation", True),
        ("response", "POST", "/fhir/Observation", "Observation", False),
    ]
    requests = [e for e in events if e.kind == "request"]
    assert [e.fields["fhir_interaction"] for e in requests] == [
        "capabilities",
        "read",
        "search",
        "read",
        "create",
    ]
    assert requests[2].fields["query_params"] == ["family", "birthdate"]
    assert requests[0].fields["user_agent"] == "ward-client/2.1"
    assert requests[4].fields["basic_auth"] is True
    responses = [e for e in events if e.kind == "response"]
    assert [e.fields["status"] for e in responses] == [200, 200, 200, 200, 201]
    assert responses[0].fields["server"].startswith("TestFHIR/1.0")
    assert [e.fields["trans_depth"] for e in responses] == [1, 2, 3, 4, 5]


def test_fhir_exchange_leaks_nothing(fhir_session: Chunks) -> None:
    blob = json.dumps([e.to_json() for e in run(fhir_session)])
    for needle in [*FAKE, "aHR0cHVzZXI6aHR0cHB3", "httpuser"]:
        assert needle not in blob


def test_byte_by_byte_gives_the_same_events(fhir_session: Chunks) -> None:
    bytewise = [(d, data[i : i + 1]) for d, data in fhir_session for i in range(len(data))]
    assert comparable(run(bytewise)) == comparable(run(fhir_session))


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=20))
def test_random_chunking_gives_the_same_events(fhir_session: Chunks, cuts: list[int]) -> None:
    rechunked: Chunks = []
    cut_iter = itertools.cycle(cuts or [5])
    for direction, group in itertools.groupby(fhir_session, key=lambda c: c[0]):
        data = b"".join(d for _, d in group)
        pos = 0
        while pos < len(data):
            step = next(cut_iter)
            rechunked.append((direction, data[pos : pos + step]))
            pos += step
    assert comparable(run(rechunked)) == comparable(run(fhir_session))


# --- FHIR path recognition --------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/baseR4/Patient/abc/_history/3", ("/baseR4/Patient/{id}/_history/{vid}", "vread")),
        ("GET", "/Patient/abc/_history", ("/Patient/{id}/_history", "history")),
        ("POST", "/fhir/Patient/_search", ("/fhir/Patient/_search", "search")),
        ("GET", "/fhir/Patient/abc/$everything", ("/fhir/Patient/{id}/$everything", "operation")),
        ("PUT", "/r4/Observation/o1", ("/r4/Observation/{id}", "update")),
        ("DELETE", "/Encounter/e1", ("/Encounter/{id}", "delete")),
        ("GET", "/Patient/p1/Observation", ("/Patient/{id}/Observation", "search")),
        ("GET", "/static/app.js", ("/static/app.js", None)),
    ],
)
def test_fhir_targets(method: str, path: str, expected: tuple[str, str | None]) -> None:
    target = fhir_target(path, method)
    assert (target.path, target.interaction) == expected


def test_patient_compartment_search_is_phi() -> None:
    target = fhir_target("/Patient/p1/Observation", "GET")
    assert target.resource == "Observation" and target.patient_compartment is True
    events = run([(ORIG, b"GET /fhir/Patient/p1/Observation HTTP/1.1\r\nHost: h\r\n\r\n")])
    assert events[0].phi is True and events[0].fields["fhir_resource"] == "Observation"


def test_peek_resource_type() -> None:
    assert peek_resource_type(b'{\n  "resourceType" : "Encounter", "id": "x"}') == "Encounter"
    assert peek_resource_type(b'<Patient xmlns="http://hl7.org/fhir"><id value="1"/>') == "Patient"
    assert peek_resource_type(b'{"resourceType": "NotAResource"}') is None


# --- Framing: pipelining, chunked bodies, upgrades, malformed input ---------------------


def test_pipelining_head_and_chunked_bodies() -> None:
    requests = (
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
        b"HEAD /b HTTP/1.1\r\nHost: h\r\n\r\n"
        b"POST /c?x=1&y=2 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nabcd\r\n0\r\nTrailer: t\r\n\r\n"
    )
    responses = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
        b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n"  # HEAD: no body follows
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nxyz\r\n0\r\n\r\n"
    )
    events = run([(ORIG, requests), (RESP, responses)])
    rows = [
        (e.kind, e.fields["path"], e.fields.get("status"), e.fields.get("trans_depth"))
        for e in events
    ]
    assert rows == [
        ("request", "/a", None, 1),
        ("request", "/b", None, 2),
        ("request", "/c", None, 3),
        ("response", "/a", 200, 1),
        ("response", "/b", 200, 2),
        ("response", None, 100, None),
        ("response", "/c", 201, 3),
    ]
    assert events[2].fields["query_params"] == ["x", "y"]
    assert events[2].fields["chunked"] is True
    assert events[6].fields["body_bytes"] == 3
    assert not any(e.kind == "malformed" for e in events)


def test_upgrade_turns_the_connection_into_a_tunnel() -> None:
    events = run(
        [
            (ORIG, b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n"),
            (RESP, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"),
            (ORIG, b"\x81\x85garbage that is not HTTP"),
        ]
    )
    assert [e.kind for e in events] == ["request", "response"]


def test_body_until_close_and_close_inside_a_body() -> None:
    events = run([(ORIG, b"GET / HTTP/1.0\r\n\r\n"), (RESP, b"HTTP/1.0 200 OK\r\n\r\nbody...")])
    assert events[-1].fields["body_bytes"] == 7
    cut = run([(RESP, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")])
    assert [e.kind for e in cut] == ["response", "malformed"]
    assert cut[1].fields["reason"] == "connection closed inside a body"


def test_malformed_input_resynchronises() -> None:
    data = (
        b"\x16\x03\x01 not http at all\r\n\r\n"
        b"GET /ok HTTP/1.1\r\nHost: h\r\n\r\n"
        b"GET /bad HTTP/1.1\r\nno colon here\r\n\r\n"
        b"GET /again HTTP/1.1\r\n\r\n"
    )
    events = run([(ORIG, data)])
    assert [(e.kind, e.fields.get("reason") or e.fields["path"]) for e in events] == [
        ("malformed", "invalid request line"),
        ("request", "/ok"),
        ("malformed", "invalid header line"),
        ("request", "/again"),
    ]


def test_invalid_chunk_size_and_oversized_headers() -> None:
    bad_chunk = run([(RESP, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")])
    assert [e.kind for e in bad_chunk] == ["malformed", "response"]
    assert bad_chunk[0].fields["reason"] == "invalid chunk size"
    huge = run([(ORIG, b"GET / HTTP/1.1\r\nX: " + b"a" * 70000)])
    assert huge[0].fields["reason"] == "header block over 65536 bytes"


def test_gap_inside_a_body_keeps_sync() -> None:
    analyzer = HttpAnalyzer("C1")
    events = analyzer.feed(RESP, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", 1.0)
    events += analyzer.gap(RESP, 80, 1.0)
    events += analyzer.feed(RESP, b"0123456789HTTP/1.1 204 No Content\r\n\r\n", 1.0)
    assert [(e.kind, e.fields.get("status")) for e in events] == [
        ("response", 200),
        ("response", 204),
    ]
    assert events[0].fields["body_gap"] is True and events[0].fields["body_bytes"] == 100
    lost = analyzer.gap(RESP, 5, 1.0) + analyzer.feed(RESP, b"TP/1.1 200\r\n\r\n", 1.0)
    assert [e.kind for e in lost] == ["malformed"]


# --- Against the reference captures and the tshark / Arkime oracles ---------------------


def _http_events(pcap: Path) -> list[ProtocolEvent]:
    events: list[ProtocolEvent] = []
    for conn in tcp_connections(pcap):
        events += replay(HttpAnalyzer("C1"), conn)
    return events


@pytest.mark.corpus
def test_fields_match_tshark(corpus: Path) -> None:
    captures = sorted((corpus / "pcaps" / "http").glob("*.pcap"))
    assert captures
    for pcap in captures:
        oracle_path = pcap.parent / "tshark_expected" / f"{pcap.name}.http.jsonl"
        oracle = [json.loads(line) for line in oracle_path.read_text().splitlines() if line]
        events = [e for e in _http_events(pcap) if e.kind != "malformed"]
        requests = [e for e in events if e.kind == "request"]
        responses = [e for e in events if e.kind == "response"]
        want_requests = [r for r in oracle if "http.request.method" in r]
        want_responses = [r for r in oracle if "http.response.code" in r]
        assert len(requests) == len(want_requests), pcap.name
        assert len(responses) == len(want_responses), pcap.name
        for event, row in zip(requests, want_requests, strict=True):
            uri = urlsplit(row["http.request.uri"])
            assert event.fields["method"] == row["http.request.method"]
            assert event.fields["host"] == row["http.host"]
            assert event.fields["path"] == uri.path
            assert event.fields["query_params"] == [k for k, _ in parse_qsl(uri.query)]
            assert event.fields["user_agent"] == row["http.user_agent"]
            assert event.fields["content_type"] == row.get("http.content_type")
        for event, row in zip(responses, want_responses, strict=True):
            assert event.fields["status"] == int(row["http.response.code"])
            assert event.fields["content_type"] == row.get("http.content_type")


@pytest.mark.corpus
def test_basic_auth_flag_without_credentials(corpus: Path) -> None:
    pcap = corpus / "pcaps" / "http" / "arkime_http-basicauth.pcap"
    arkime = json.loads((pcap.with_suffix(".test.json")).read_text())
    auth_types = arkime["sessions3"][0]["body"]["http"]["authType"]
    events = _http_events(pcap)
    assert [e.fields["auth_scheme"].lower() for e in events if e.kind == "request"] == auth_types
    assert events[0].fields["basic_auth"] is True
    blob = json.dumps([e.to_json() for e in events])
    for secret in ("dXNlcnJycnI6cGFzc3dvcmRkZGRk", "userrrrr", "passwordddd"):
        assert secret not in blob


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "captures"


def test_recorded_fhir_session() -> None:
    events = _http_events(FIXTURES / "fhir_http.pcap")
    assert events and not any(e.kind == "malformed" for e in events)
    requests = [e for e in events if e.kind == "request"]
    responses = [e for e in events if e.kind == "response"]
    assert len(requests) == len(responses)
    assert {e.fields["fhir_resource"] for e in requests} >= {"Patient", "Observation", "Device"}
    assert all(
        "{id}" in e.fields["path"] for e in requests if e.fields["fhir_interaction"] == "read"
    )
    device = [e for e in events if e.fields["fhir_resource"] == "Device"]
    assert device and not any(e.phi for e in device)
    patient_ok = [
        e for e in responses if e.fields["fhir_resource"] == "Patient" and e.fields["status"] == 200
    ]
    assert patient_ok and all(e.phi for e in patient_ok)
    missing = [e for e in responses if e.fields["status"] == 404]
    assert missing and not any(e.phi for e in missing)


def test_lengths_accept_ascii_digits_only() -> None:
    """Python's int() takes "5³" or "1_0"; HTTP lengths must not (found by fuzzing)."""
    odd_length = "HTTP/1.1 200 OK\r\nContent-Length: 5³9\r\n\r\nbody".encode()
    events = run([(RESP, odd_length)])
    assert events[0].fields["content_length"] is None
    assert events[0].fields["body_bytes"] == 4  # no usable length: read until close
    odd_chunk = run([(RESP, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\n")])
    assert odd_chunk[0].fields["reason"] == "invalid chunk size"
