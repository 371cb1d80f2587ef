"""Protocol detection by content on any port, with well-known ports as the fallback."""

from __future__ import annotations

from pathlib import Path

import pytest
from flow_bytes import first_payloads
from net_replay import tcp_connections

from medsentry.protocols.detect import (
    ANALYZERS,
    PORT_HINTS,
    guess_protocol,
    looks_like_dicom_associate,
    looks_like_hl7,
    looks_like_http_request,
    ports_hint,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "captures"
UNUSUAL = (40000, 40001)  # ports no protocol is registered on


def first_bytes(path: Path) -> list[tuple[bytes, bytes, int, int]]:
    out = []
    for conn in tcp_connections(path):
        orig, resp = first_payloads(conn)
        if orig or resp:
            out.append((orig, resp, conn.orig[1], conn.resp[1]))
    return out


@pytest.mark.parametrize(
    ("name", "protocol"),
    [
        ("dicom_abort_reject.pcap", "dicom"),
        ("dicom_echo_store.pcap", "dicom"),
        ("dicom_find_get.pcap", "dicom"),
        ("dicom_move.pcap", "dicom"),
        ("fhir_http.pcap", "http"),
        ("hl7_adt_acks.pcap", "hl7"),
        ("hl7_batch.pcap", "hl7"),
        ("hl7_oru_devices.pcap", "hl7"),  # one of its listeners is on 7710, not an HL7 port
        ("hl7_split_segments.pcap", "hl7"),
        ("mqtt311_vitals.pcap", "mqtt"),
        ("mqtt5_vitals.pcap", "mqtt"),
        ("tls.pcap", "tls"),
    ],
)
def test_fixture_flows_are_recognised_by_content(name: str, protocol: str) -> None:
    flows = first_bytes(FIXTURES / name)
    assert flows
    for orig, resp, sport, dport in flows:
        assert guess_protocol(orig, resp, sport, dport) == protocol
        assert guess_protocol(orig, resp, *UNUSUAL) == protocol
        # Only the server's first bytes (the client side was not captured).
        if protocol in ("dicom", "http", "tls") and resp:
            assert guess_protocol(b"", resp, *UNUSUAL) == protocol


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("folder", "pattern", "protocol"),
    [
        ("hl7", "tapirx_*.pcap", "hl7"),
        ("dicom", "tapirx_*.pcap", "dicom"),
        ("http", "arkime_*.pcap", "http"),
        ("mqtt", "arkime_*.pcap", "mqtt"),
        ("mqtt", "zeek_mqtt.pcap", "mqtt"),
        ("tls_dns", "arkime_*tls*.pcap", "tls"),
    ],
)
def test_corpus_flows_are_recognised_by_content(
    corpus: Path, folder: str, pattern: str, protocol: str
) -> None:
    captures = sorted((corpus / "pcaps" / folder).glob(pattern))
    assert captures
    for pcap in captures:
        for orig, resp, _, _ in first_bytes(pcap):
            assert guess_protocol(orig, resp, *UNUSUAL) == protocol, pcap.name


@pytest.mark.corpus
def test_other_protocols_are_not_claimed(corpus: Path) -> None:
    pcaps = corpus / "pcaps"
    for pcap in (
        pcaps / "bruteforce" / "zeek_ftp_bruteforce.pcap",
        pcaps / "bruteforce" / "zeek_ssh_sshguess.pcap",
    ):
        flows = first_bytes(pcap)
        assert flows
        for orig, resp, _, _ in flows:
            assert guess_protocol(orig, resp, *UNUSUAL) is None, pcap.name


def test_probes_on_crafted_bytes() -> None:
    assert looks_like_hl7(b"\x0bMSH|^~\\&|A")
    assert looks_like_hl7(b"\x0b\r\nMSH#@*$%#")
    assert not looks_like_hl7(b"MSH|^~\\&|A")  # no MLLP start block
    assert not looks_like_hl7(b"\x0bMSHX")
    rq = b"\x01\x00\x00\x00\x00\x44\x00\x01\x00\x00" + b"CALLED          CALLING         "
    assert looks_like_dicom_associate(rq)
    assert not looks_like_dicom_associate(rq[:6] + b"\x00\x02" + rq[8:])  # version 2
    assert not looks_like_dicom_associate(b"\x01\x00\x00\x00\x00\x10\x00\x01")  # too short
    assert not looks_like_dicom_associate(rq[:10] + b"\x00" * 32)  # unprintable AE titles
    assert looks_like_http_request(b"GET / HTTP/1.1\r\n")
    assert looks_like_http_request(b"POST /fh")  # line not complete yet
    assert not looks_like_http_request(b"GET / SIP/2.0\r\n")
    assert not looks_like_http_request(b"FETCH / HTTP/1.1\r\n")


def test_ports_are_the_fallback() -> None:
    assert ports_hint(2575) == "hl7" and ports_hint(6661) == "hl7"
    assert ports_hint(104) == "dicom" and ports_hint(11112) == "dicom"
    assert ports_hint(1883) == "mqtt" and ports_hint(8883) == "tls"
    assert ports_hint(80) == "http" and ports_hint(8080) == "http" and ports_hint(443) == "tls"
    assert ports_hint(40000) is None
    assert guess_protocol(b"", b"", 51000, 104) == "dicom"
    assert guess_protocol(b"\x0b", b"", 51000, 2575) == "hl7"  # too short to tell: the port
    assert guess_protocol(b"\x16\x03\x01\x00\x10\x01", b"", 51000, 80) == "tls"  # content wins
    assert guess_protocol(b"SSH-2.0-OpenSSH_9.6\r\n", b"", *UNUSUAL) is None


def test_every_name_builds_an_analyzer() -> None:
    for name in {"hl7", "dicom", "http", "mqtt", "tls", *PORT_HINTS.values()}:
        analyzer = ANALYZERS[name]("C1")
        assert analyzer.protocol == name
        assert analyzer.feed(0, b"", 0.0) == []
        assert isinstance(analyzer.close(1.0), list)
