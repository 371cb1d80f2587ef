"""TLS analyzer: hand-built handshakes, and the corpus against Arkime, Suricata and tshark."""

from __future__ import annotations

import datetime as dt
import json
import struct
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from net_replay import (
    FIXTURES,
    as_list,
    comparable,
    feed_all,
    kinds,
    one_byte_chunks,
    pipeline_events,
    random_chunker,
    replay,
    split_at,
    tcp_connections,
    tshark_rows,
)

from medsentry.protocols.base import ORIG, RESP, ProtocolEvent
from medsentry.protocols.tls import MAX_HANDSHAKE, TlsAnalyzer, looks_like_tls
from medsentry.protocols.tls_fingerprint import HelloFacts, ja4

GREASE = 0x3A3A


def u16s(values: list[int]) -> bytes:
    return b"".join(v.to_bytes(2, "big") for v in values)


def vec(data: bytes, size: int) -> bytes:
    return len(data).to_bytes(size, "big") + data


def ext(ext_type: int, data: bytes) -> bytes:
    return ext_type.to_bytes(2, "big") + vec(data, 2)


def client_hello(
    sni: str | None = "pacs.hospital.example",
    alpn: list[bytes] | None = None,
    ciphers: list[int] | None = None,
    versions: list[int] | None = None,
    sigalgs: list[int] | None = None,
    extra: bytes = b"",
) -> bytes:
    extensions = b""
    if sni is not None:
        extensions += ext(0, vec(b"\x00" + vec(sni.encode(), 2), 2))
    extensions += ext(10, vec(u16s([29, 23]), 2)) + ext(11, vec(b"\x00", 1))
    if sigalgs:
        extensions += ext(13, vec(u16s(sigalgs), 2))
    if alpn:
        extensions += ext(16, vec(b"".join(vec(p, 1) for p in alpn), 2))
    if versions:
        extensions += ext(43, vec(u16s(versions), 1))
    extensions += extra
    body = (
        b"\x03\x03"
        + bytes(32)
        + vec(b"", 1)
        + vec(u16s(ciphers or [0x1301, 0xC02F]), 2)
        + vec(b"\x00", 1)
        + vec(extensions, 2)
    )
    return b"\x01" + vec(body, 3)


def server_hello(version: int = 0x0303, cipher: int = 0xC02F, alpn: bytes | None = None) -> bytes:
    extensions = b""
    if version == 0x0304:
        extensions += ext(43, u16s([0x0304]))
    if alpn:
        extensions += ext(16, vec(vec(alpn, 1), 2))
    body = (
        b"\x03\x03" + bytes(32) + vec(bytes(32), 1) + u16s([cipher]) + b"\x00" + vec(extensions, 2)
    )
    return b"\x02" + vec(body, 3)


def record(ctype: int, body: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", ctype, version, len(body)) + body


def self_signed_der(common_name: str = "infusion-gw.local") -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Medical"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x8001)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER)


def certificate_message(ders: list[bytes]) -> bytes:
    return b"\x0b" + vec(vec(b"".join(vec(d, 3) for d in ders), 3), 3)


def run(chunks: list[tuple[int, bytes]]) -> list[ProtocolEvent]:
    return feed_all(TlsAnalyzer("C1"), chunks)


# -- unit behaviour ----------------------------------------------------------------------------


def test_client_hello_fields() -> None:
    hello = client_hello(
        alpn=[b"h2", b"http/1.1"],
        ciphers=[GREASE, 0x1301, 0x1302, 0xC02F],
        versions=[GREASE, 0x0304, 0x0303],
        sigalgs=[0x0403, 0x0804],
    )
    (event,) = run([(ORIG, record(22, hello, 0x0301))])
    f = event.fields
    assert event.kind == "client_hello"
    assert f["sni"] == "pacs.hospital.example"
    assert f["alpn"] == ["h2", "http/1.1"]
    assert f["versions"] == ["TLSv1.3", "TLSv1.2"] and f["max_version"] == "TLSv1.3"
    assert f["cipher_suites"] == [GREASE, 0x1301, 0x1302, 0xC02F]
    assert f["extensions"] == [0, 10, 11, 13, 16, 43]
    assert f["supported_groups"] == [29, 23]
    assert f["signature_algorithms"] == [0x0403, 0x0804]
    assert f["ja4"].startswith("t13d0306h2_")
    assert f["ja4_r"] == "t13d0306h2_1301,1302,c02f_000a,000b,000d,002b_0403,0804"


def test_ja4_ignores_grease_and_handles_odd_alpn() -> None:
    plain = HelloFacts(0x0303, [0x1301], [0, 16, 13], [0x0304], signature_algorithms=[0x0403])
    plain.alpn = [b"h2"]
    greased = HelloFacts(
        0x0303,
        [GREASE, 0x1301],
        [GREASE, 0, 16, 13],
        [GREASE, 0x0304],
        signature_algorithms=[0x0403],
    )
    greased.alpn = [b"h2"]
    assert ja4(plain, True) == ja4(greased, True)
    odd = HelloFacts(0x0303, [0x1301], [16], alpn=[b"\xabx\xcd"])
    assert ja4(odd, False)[0].startswith("t12i0101ad_")
    bare = HelloFacts(0x0301)
    assert ja4(bare, False)[0] == "t10i000000_000000000000_000000000000"
    no_sigalgs = HelloFacts(0x0303, [0x002F], [10])
    assert ja4(no_sigalgs, False)[1] == "t12i010100_002f_000a"


def test_tls12_server_flight_with_self_signed_certificate() -> None:
    der = self_signed_der()
    flight = server_hello(alpn=b"h2") + certificate_message([der]) + b"\x0e\x00\x00\x00"
    events = run([(ORIG, record(22, client_hello())), (RESP, record(22, flight))])
    assert kinds(events) == ["client_hello", "server_hello", "certificate"]
    sh, cert = events[1].fields, events[2].fields
    assert (sh["version"], sh["cipher_name"], sh["alpn"]) == (
        "TLSv1.2",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "h2",
    )
    assert cert["subject_cn"] == cert["issuer_cn"] == "infusion-gw.local"
    assert cert["subject"] == "C=US, O=Example Medical, CN=infusion-gw.local"
    assert cert["self_signed"] is True
    assert cert["serial"] == "00:80:01"
    assert (cert["not_before"], cert["not_after"]) == ("2024-01-01T00:00:00", "2024-12-31T00:00:00")
    assert cert["san_dns"] == ["infusion-gw.local"]
    assert events[2].direction == RESP


def test_handshake_reassembled_across_records() -> None:
    hello = client_hello(alpn=[b"mqtt"])
    records = b"".join(record(22, piece) for piece in split_at(hello, [3, 50, 51]))
    (event,) = run([(ORIG, records)])
    assert event.fields["alpn"] == ["mqtt"]


def test_tls13_hides_what_follows_the_server_hello() -> None:
    flight = record(22, server_hello(version=0x0304, cipher=0x1301))
    flight += record(20, b"\x01") + record(23, b"\x17" * 500)  # encrypted extensions, cert...
    analyzer = TlsAnalyzer("C1")
    events = analyzer.feed(ORIG, record(22, client_hello()), 1.0)
    assert not analyzer.handshake_done
    events += analyzer.feed(RESP, flight, 1.0)
    assert kinds(events) == ["client_hello", "server_hello"]
    assert events[1].fields["version"] == "TLSv1.3"
    assert analyzer.handshake_done


def test_alerts_plain_and_encrypted() -> None:
    events = run(
        [
            (ORIG, record(22, client_hello())),
            (RESP, record(21, b"\x02\x28")),
            (ORIG, record(20, b"\x01") + record(21, bytes(26))),
        ]
    )
    plain, hidden = events[1].fields, events[2].fields
    assert (plain["level"], plain["description_name"], plain["encrypted"]) == (
        "fatal",
        "handshake_failure",
        False,
    )
    assert hidden == {"encrypted": True, "length": 26}


def test_heartbleed_pattern() -> None:
    events = run([(ORIG, record(22, client_hello()) + record(24, b"\x01\x40\x00"))])
    beat = events[1]
    assert beat.kind == "heartbeat"
    assert beat.fields["payload_length"] == 0x4000 and beat.fields["overlong"] is True


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "bad_record_header"),
        (struct.pack("!BHH", 22, 0x0303, 30000) + bytes(10), "record_too_long"),
        (record(22, b"\x01\x00\x00\x05\x03\x03\x00\x00\x00"), "bad_hello"),
        (record(22, b"\x0b\x00\x00\x04\x00\x00\x09\x00"), "bad_certificate_message"),
    ],
)
def test_malformed(data: bytes, reason: str) -> None:
    events = run([(ORIG, data)])
    assert events[0].kind == "malformed" and events[0].fields["reason"] == reason
    assert len(events) == 1  # lost framing is reported once, not per byte


def test_oversized_handshake_is_skipped() -> None:
    big = b"\x0b" + (MAX_HANDSHAKE + 10).to_bytes(3, "big") + bytes(MAX_HANDSHAKE + 10)
    stream = b"".join(record(22, piece) for piece in split_at(big, range(16000, len(big), 16000)))
    stream += record(22, b"\x0e\x00\x00\x00") + record(21, b"\x01\x00")
    analyzer = TlsAnalyzer("C1")
    events = analyzer.feed(RESP, stream, 1.0)
    assert kinds(events) == ["malformed", "alert"]
    assert events[0].fields["reason"] == "oversized_handshake"
    assert analyzer.buffered_bytes() == 0


def test_gap_in_application_data_keeps_framing() -> None:
    analyzer = TlsAnalyzer("C1")
    analyzer.feed(ORIG, record(22, client_hello()) + record(20, b"\x01"), 1.0)
    data = record(23, bytes(5000))
    analyzer.feed(ORIG, data[:1000], 1.0)
    analyzer.gap(ORIG, 2000, 1.0)
    events = analyzer.feed(ORIG, data[3000:] + record(21, bytes(24)), 1.0)
    assert kinds(events) == ["alert"]


def test_resync_after_a_gap_needs_two_record_headers() -> None:
    analyzer = TlsAnalyzer("C1")
    analyzer.feed(RESP, record(22, server_hello()), 1.0)
    analyzer.gap(RESP, 700, 1.0)
    tail = bytes(37) + record(21, b"\x02\x30") + record(21, b"\x01\x00")
    events = analyzer.feed(RESP, tail, 1.0)
    assert [e.fields.get("description_name") for e in events] == ["unknown_ca", "close_notify"]


def test_sslv2_client_hello() -> None:
    specs = b"\x00\x00\x2f" + b"\x01\x00\x80" + b"\x00\x00\x0a"
    body = b"\x01\x03\x01" + struct.pack("!HHH", len(specs), 0, 16) + specs + bytes(16)
    data = bytes([0x80 | (len(body) >> 8), len(body) & 0xFF]) + body
    assert looks_like_tls(data)
    (event,) = run([(ORIG, data)])
    assert event.kind == "client_hello" and event.fields["sslv2_format"] is True
    assert event.fields["legacy_version"] == "TLSv1.0"
    assert event.fields["cipher_suites"] == [0x2F, 0x0A]


def test_looks_like_tls() -> None:
    assert looks_like_tls(record(22, client_hello(), 0x0301))
    assert not looks_like_tls(record(22, server_hello()))
    assert not looks_like_tls(b"\x10\x2c\x00\x04MQTT\x04\x02")


SESSION = [
    (ORIG, record(22, client_hello(alpn=[b"h2"], versions=[0x0303]))),
    (
        RESP,
        record(22, server_hello() + certificate_message([self_signed_der()]) + b"\x0e\x00\x00\x00"),
    ),
    (
        ORIG,
        record(22, b"\x10\x00\x00\x21" + bytes(33)) + record(20, b"\x01") + record(22, bytes(40)),
    ),
    (RESP, record(20, b"\x01") + record(22, bytes(40)) + record(23, bytes(900))),
    (ORIG, record(23, bytes(300)) + record(21, bytes(26))),
]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_chunking_gives_identical_events(data: st.DataObject) -> None:
    reference = run(SESSION)
    assert kinds(reference) == ["client_hello", "server_hello", "certificate", "alert"]
    chunks = []
    for direction, payload in SESSION:
        cuts = data.draw(st.sets(st.integers(1, len(payload) - 1), max_size=10))
        chunks += [(direction, piece) for piece in split_at(payload, cuts)]
    assert run(chunks) == reference


# -- corpus ------------------------------------------------------------------------------------

_PCAPS = [
    "arkime_tls13.pcap",
    "arkime_tls-alpn-h2.pcap",
    "arkime_curl-enabled-tls13.pcap",
    "suricata-verify/tls/tls-store-02/tls-client-auth.pcap",
]


def _tls_events(path: Path) -> dict[int, list[ProtocolEvent]]:
    """Events per client port for the TLS connections of a capture."""
    out = {}
    for conn in tcp_connections(path):
        if conn.resp[1] in (443, 8081):
            out[conn.orig[1]] = replay(TlsAnalyzer("C"), conn)
    return out


@pytest.mark.parametrize("name", _PCAPS)
def test_corpus_chunking_invariance(corpus: Path, name: str) -> None:
    for conn in tcp_connections(corpus / "pcaps" / "tls_dns" / name):
        whole = replay(TlsAnalyzer("C"), conn)
        assert replay(TlsAnalyzer("C"), conn, one_byte_chunks) == whole
        assert replay(TlsAnalyzer("C"), conn, random_chunker(11)) == whole


def _one(events: list[ProtocolEvent], kind: str) -> dict[str, Any]:
    (event,) = [e for e in events if e.kind == kind]
    return event.fields


@pytest.mark.parametrize(
    "name", ["arkime_tls13", "arkime_tls-alpn-h2", "arkime_curl-enabled-tls13"]
)
def test_arkime_sessions(corpus: Path, name: str) -> None:
    base = corpus / "pcaps" / "tls_dns"
    sessions = json.loads((base / f"{name}.test.json").read_text())["sessions3"]
    by_port = _tls_events(base / f"{name}.pcap")
    checked = 0
    for session in sessions:
        body = session["body"]
        if "tls" not in body:
            continue
        tls = body["tls"]
        events = by_port[body["source"]["port"]]
        hello, server = _one(events, "client_hello"), _one(events, "server_hello")
        assert [hello["sni"]] == body["http"]["host"]
        assert [hello["ja4"]] == tls["ja4"] and [hello["ja4_r"]] == tls["ja4_r"]
        assert [hello["ja3"]] == tls["ja3"] and [hello["ja3_string"]] == tls["ja3string"]
        assert [server["ja3s"]] == tls["ja3s"] and [server["ja3s_string"]] == tls["ja3sstring"]
        assert [server["cipher_name"]] == tls["cipher"]
        assert [server["version"]] == tls["version"]
        for cert in body.get("cert", []):
            chain = _one(events, "certificate")["chain"]
            (mine,) = [
                c
                for c in chain
                if c["serial"].replace(":", "").lower().lstrip("0") == cert["serial"].lstrip("0")
            ]
            assert [mine["subject_cn"].lower()] == cert["subjectCN"]
            assert [mine["issuer_cn"].lower()] == cert["issuerCN"]
            assert mine["sha1"] == cert["hash"]
            assert mine.get("san_dns", []) == cert.get("alt", [])
            not_before = dt.datetime.fromisoformat(mine["not_before"]).replace(tzinfo=dt.UTC)
            assert int(not_before.timestamp() * 1000) == cert["notBefore"]
        checked += 1
    assert checked >= 1


def test_suricata_verify_certificates(corpus: Path) -> None:
    base = corpus / "pcaps" / "tls_dns" / "suricata-verify" / "tls"
    spec = yaml.safe_load((base / "tls-eve-custom-fields" / "test.yaml").read_text())
    match = spec["checks"][0]["filter"]["match"]
    (events,) = _tls_events(base / "tls-store-02" / "tls-client-auth.pcap").values()
    hello, server = _one(events, "client_hello"), _one(events, "server_hello")
    certs = {e.direction: e.fields for e in events if e.kind == "certificate"}
    server_cert, client_cert = certs[RESP], certs[ORIG]
    assert hello["sni"] == match["tls.sni"]
    assert server["version"] == match["tls.version"].replace("TLS ", "TLSv")
    assert server_cert["subject"] == match["tls.subject"]
    assert server_cert["issuer"] == match["tls.issuerdn"]
    assert server_cert["san_dns"][0] == match["tls.subjectaltname[0]"]
    assert server_cert["serial"] == match["tls.serial"]
    assert server_cert["sha1"] == match["tls.fingerprint"]
    assert server_cert["not_before"] == match["tls.notbefore"]
    assert server_cert["not_after"] == match["tls.notafter"]
    assert client_cert["serial"] == match["tls.client.serial"]
    assert client_cert["not_before"] == match["tls.client.notbefore"]
    assert client_cert["not_after"] == match["tls.client.notafter"]
    assert any(e.kind == "certificate_request" for e in events)


def test_tshark_oracle(corpus: Path) -> None:
    base = corpus / "pcaps" / "tls_dns"
    compared = 0
    for oracle in sorted((base / "tshark_expected").glob("*.tls.jsonl")):
        pcap = base / oracle.name.removesuffix(".tls.jsonl").replace("__", "/")
        by_port = _tls_events(pcap)
        for line in oracle.read_text().splitlines():
            row = json.loads(line)
            events = by_port[int(row["tcp.srcport"])]
            hello = _one(events, "client_hello")
            (event,) = [e for e in events if e.kind == "client_hello"]
            assert round(event.ts, 6) == round(float(row["frame.time_epoch"]), 6)
            assert hello["sni"] == row["tls.handshake.extensions_server_name"]
            assert hello["alpn"] == as_list(row["tls.handshake.extensions_alpn_str"])
            assert (
                int(row["tls.handshake.version"], 16)
                == {"TLSv1.2": 0x0303}[hello["legacy_version"]]
            )
            compared += 1
    assert compared == 4


def test_recorded_capture_against_live_tshark() -> None:
    """Python ssl client and server, recorded by the project: TLS 1.2 then TLS 1.3."""
    pcap = FIXTURES / "tls.pcap"
    fields = [
        "tcp.srcport",
        "tls.handshake.type",
        "tls.handshake.extensions_server_name",
        "tls.handshake.extensions_alpn_str",
        "tls.handshake.ja3",
        "tls.handshake.ja3s",
        "tls.handshake.ciphersuite",
    ]
    rows = tshark_rows(pcap, fields, "tls.handshake.type==1 or tls.handshake.type==2")
    conns = {conn.orig[1]: replay(TlsAnalyzer("C"), conn) for conn in tcp_connections(pcap)}
    hellos = [r for r in rows if as_list(r["tls.handshake.type"])[0] == "1"]
    assert len(hellos) == 2
    for row in hellos:
        events = conns[int(row["tcp.srcport"])]
        hello = _one(events, "client_hello")
        assert hello["sni"] == row["tls.handshake.extensions_server_name"]
        assert hello["alpn"] == as_list(row["tls.handshake.extensions_alpn_str"])
        assert hello["ja3"] == row["tls.handshake.ja3"]
        assert [f"0x{c:04x}" for c in hello["cipher_suites"]] == as_list(
            row["tls.handshake.ciphersuite"]
        )
    servers = [r for r in rows if as_list(r["tls.handshake.type"])[0] == "2"]
    ours = [_one(events, "server_hello") for events in conns.values()]
    assert sorted(s["ja3s"] for s in ours) == sorted(r["tls.handshake.ja3s"] for r in servers)
    assert sorted(f"0x{s['cipher_suite']:04x}" for s in ours) == sorted(
        r["tls.handshake.ciphersuite"] for r in servers
    )
    certs = [e.fields for events in conns.values() for e in events if e.kind == "certificate"]
    assert [(c["subject_cn"], c["self_signed"]) for c in certs] == [("ehr.hospital.example", True)]


def test_pipeline_gives_the_same_events(corpus: Path) -> None:
    base = corpus / "pcaps" / "tls_dns"
    compared = 0
    for pcap in [*(base / name for name in _PCAPS), FIXTURES / "tls.pcap"]:
        direct = [e for conn in tcp_connections(pcap) for e in replay(TlsAnalyzer("C"), conn)]
        # The pipeline stops reading a TLS connection once both sides encrypt: records
        # after that (encrypted alerts) are the only events it does not see.
        direct = [e for e in direct if not (e.kind == "alert" and e.fields.get("encrypted"))]
        through = pipeline_events(pcap, "tls")
        assert comparable(through) == comparable(direct), pcap
        compared += len(direct)
    assert compared >= 15
    snis = {
        e.fields["sni"]
        for e in pipeline_events(base / "arkime_tls13.pcap", "tls")
        if e.kind == "client_hello"
    }
    assert snis == {"blog.cloudflare.com"}
