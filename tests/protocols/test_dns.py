"""DNS parser (UDP and TCP): hand-built messages, and the corpus against tshark and Arkime."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from net_replay import (
    FIXTURES,
    as_list,
    one_byte_chunks,
    pipeline_events,
    replay,
    split_at,
    tcp_connections,
    tshark_rows,
    udp_datagrams,
)

from medsentry.protocols.base import ORIG, RESP, ProtocolEvent
from medsentry.protocols.dns import DnsTcpAnalyzer, looks_like_dns, parse_dns


def name(text: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in text.split(".")) + b"\x00"


def header(ident: int, flags: int, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", ident, flags, qd, an, ns, ar)


def rr(owner: bytes, rtype: int, rdata: bytes, ttl: int = 300) -> bytes:
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


QUERY = header(0x1234, 0x0100) + name("pacs.hospital.example") + struct.pack("!HH", 1, 1)
RESPONSE = (
    header(0x1234, 0x8180, an=5)
    + name("pacs.hospital.example")
    + struct.pack("!HH", 1, 1)
    + rr(b"\xc0\x0c", 5, b"\x05store\xc0\x11")  # CNAME store.hospital.example (compressed)
    + rr(b"\xc0\x33", 1, bytes([10, 20, 30, 40]))
    + rr(b"\xc0\x33", 28, bytes(15) + b"\x01")
    + rr(b"\xc0\x11", 15, b"\x00\x0a\x02mx\xc0\x11")
    + rr(b"\xc0\x11", 16, b"\x0bsecret=abcd\x03xyz")
)


def parse(payload: bytes, direction: int = ORIG) -> ProtocolEvent:
    (event,) = parse_dns(payload, 1.0, "U1", direction)
    return event


def test_query_fields() -> None:
    event = parse(QUERY)
    f = event.fields
    assert event.kind == "query"
    assert (f["id"], f["opcode_name"], f["rd"], f["qdcount"]) == (0x1234, "query", True, 1)
    assert f["questions"] == [
        {"name": "pacs.hospital.example", "type": 1, "type_name": "A", "class": 1}
    ]
    assert (f["query"], f["qtype_name"]) == ("pacs.hospital.example", "A")


def test_response_answers_with_compression() -> None:
    event = parse(RESPONSE, RESP)
    f = event.fields
    assert event.kind == "response"
    assert (f["rcode_name"], f["ra"]) == ("NOERROR", True)
    data = [(a["type_name"], a["name"], a.get("data")) for a in f["answers"]]
    assert data == [
        ("CNAME", "pacs.hospital.example", "store.hospital.example"),
        ("A", "store.hospital.example", "10.20.30.40"),
        ("AAAA", "store.hospital.example", "::1"),
        ("MX", "hospital.example", "10 mx.hospital.example"),
        ("TXT", "hospital.example", None),
    ]
    assert f["answers"][-1]["txt_lengths"] == [11, 3]
    assert "secret" not in json.dumps(event.to_json())
    assert all(a["ttl"] == 300 for a in f["answers"])


def test_ptr_srv_soa_records() -> None:
    owner = name("5.0.0.10.in-addr.arpa")
    soa = (
        name("ns.hospital.example")
        + name("admin.hospital.example")
        + struct.pack("!5I", 7, 1, 2, 3, 4)
    )
    message = (
        header(9, 0x8180, an=2, ns=1)
        + owner
        + struct.pack("!HH", 12, 1)
        + rr(b"\xc0\x0c", 12, name("monitor-5.icu.hospital.example"))
        + rr(b"\xc0\x0c", 33, struct.pack("!HHH", 10, 5, 2575) + name("hl7.hospital.example"))
        + rr(name("hospital.example"), 6, soa)
    )
    f = parse(message, RESP).fields
    assert [a["data"] for a in f["answers"]] == [
        "monitor-5.icu.hospital.example",
        "10 5 2575 hl7.hospital.example",
    ]
    assert f["authority"][0]["data"] == "ns.hospital.example admin.hospital.example 7"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\x12\x34\x01", "truncated_header"),
        (header(1, 0x0100) + b"\x03abc", "truncated"),
        (header(1, 0x0100) + b"\xc0\x0c" + b"\x00\x01\x00\x01", "bad_pointer"),  # points at itself
        (header(1, 0x0100) + b"\x01a\xc0\x0c" + b"\x00\x01\x00\x01", "bad_pointer"),  # loop
        (header(1, 0x0100) + b"\x81a\x00" + b"\x00\x01\x00\x01", "bad_label"),
        (header(1, 0x0100) + (b"\x3f" + b"a" * 63) * 5 + b"\x00\x00\x01\x00\x01", "name_too_long"),
        (
            header(1, 0x8180, an=1) + name("a.b") + b"\x00\x01\x00\x01" + b"\xc0\x0c\x00\x01",
            "truncated",
        ),
    ],
)
def test_malformed(payload: bytes, reason: str) -> None:
    event = parse(payload)
    assert event.kind == "malformed"
    assert event.fields["reason"] == reason


def _pointer_chain(hops: int) -> bytes:
    """A response whose second answer's owner name is ``hops`` backward pointers deep."""
    question = name("a") + struct.pack("!HH", 1, 1)
    chain = bytearray()
    start = 12 + len(question) + 12  # rdata of the first answer (owner 2 + fixed 10 bytes)
    previous = 12
    for _ in range(hops):
        here = start + len(chain)
        chain += b"\x01b" + struct.pack("!H", 0xC000 | previous)
        previous = here
    first = rr(b"\xc0\x0c", 10, bytes(chain))  # type NULL: rdata not interpreted
    second = rr(struct.pack("!H", 0xC000 | previous), 1, bytes(4))
    return header(7, 0x8180, an=2) + question + first + second


def test_pointer_chains_are_followed_within_limits() -> None:
    ok = parse(_pointer_chain(40))
    assert ok.kind == "response"
    assert ok.fields["answers"][1]["name"] == ".".join(["b"] * 40 + ["a"])
    too_deep = parse(_pointer_chain(80))
    assert (too_deep.kind, too_deep.fields["reason"]) == ("malformed", "bad_pointer")


def test_edns_is_reported_not_listed() -> None:
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0x00008000, 0)
    event = parse(QUERY[:10] + b"\x00\x01" + QUERY[12:] + opt)
    assert event.fields["edns"] == {"udp_size": 1232, "edns_version": 0, "dnssec_ok": True}
    assert event.fields["additional"] == []


def test_looks_like_dns() -> None:
    assert looks_like_dns(QUERY)
    assert not looks_like_dns(RESPONSE)
    assert not looks_like_dns(b"GET / HTTP/1.1\r\n\r\n")


def tcp_framed(message: bytes) -> bytes:
    return len(message).to_bytes(2, "big") + message


def test_tcp_framing_and_chunking() -> None:
    stream = tcp_framed(QUERY) + tcp_framed(QUERY)
    analyzer = DnsTcpAnalyzer("C1")
    events = [e for b in one_byte_chunks(stream) for e in analyzer.feed(ORIG, b, 1.0)]
    events += analyzer.feed(RESP, tcp_framed(RESPONSE), 1.0)
    assert [e.kind for e in events] == ["query", "query", "response"]
    assert analyzer.close(2.0) == []


def test_tcp_incomplete_and_gap() -> None:
    analyzer = DnsTcpAnalyzer("C1")
    assert analyzer.feed(ORIG, tcp_framed(QUERY)[:-2], 1.0) == []
    assert [e.fields["reason"] for e in analyzer.close(2.0)] == ["incomplete_frame"]
    analyzer = DnsTcpAnalyzer("C2")
    analyzer.gap(ORIG, 10, 1.0)
    assert analyzer.feed(ORIG, tcp_framed(QUERY), 1.0) == []  # framing unknown after a gap
    assert [e.kind for e in analyzer.feed(RESP, tcp_framed(RESPONSE), 1.0)] == ["response"]


@settings(max_examples=50, deadline=None)
@given(st.sets(st.integers(1, 2 * 2 + len(QUERY) + len(RESPONSE)), max_size=10))
def test_tcp_any_chunking(cuts: set[int]) -> None:
    stream = tcp_framed(QUERY) + tcp_framed(RESPONSE)
    whole = DnsTcpAnalyzer("C").feed(ORIG, stream, 1.0)
    analyzer = DnsTcpAnalyzer("C")
    pieces = [e for p in split_at(stream, cuts) for e in analyzer.feed(ORIG, p, 1.0)]
    assert pieces == whole


# -- corpus ------------------------------------------------------------------------------------


def _corpus_events(path: Path) -> dict[tuple[float, int], list[ProtocolEvent]]:
    """DNS events by (capture time, source port), from UDP and TCP port 53."""
    out: dict[tuple[float, int], list[ProtocolEvent]] = {}
    for dg in udp_datagrams(path):
        if 53 in (dg.src[1], dg.dst[1]) or 5353 in (dg.src[1], dg.dst[1]):
            direction = ORIG if dg.dst[1] in (53, 5353) else RESP
            out.setdefault((round(dg.ts, 6), dg.src[1]), []).extend(
                parse_dns(dg.payload, dg.ts, "U", direction)
            )
    for conn in tcp_connections(path):
        if conn.resp[1] == 53:
            events = replay(DnsTcpAnalyzer("C"), conn)
            assert replay(DnsTcpAnalyzer("C"), conn, one_byte_chunks) == events
            for e in events:
                port = conn.orig[1] if e.direction == ORIG else conn.resp[1]
                out.setdefault((round(e.ts, 6), port), []).append(e)
    return out


def test_tshark_oracle(corpus: Path) -> None:
    base = corpus / "pcaps" / "tls_dns"
    compared = 0
    for oracle in sorted((base / "tshark_expected").glob("*.dns.jsonl")):
        pcap = base / oracle.name.removesuffix(".dns.jsonl")
        if not pcap.exists():
            continue
        events = _corpus_events(pcap)
        for line in oracle.read_text().splitlines():
            row = json.loads(line)
            port = int(row.get("udp.srcport") or row["tcp.srcport"])
            (event,) = events[(round(float(row["frame.time_epoch"]), 6), port)]
            f = event.fields
            where = f"{pcap.name} frame {row['frame.number']}"
            assert event.kind == ("response" if row["dns.flags.response"] == "1" else "query")
            assert [q["name"] for q in f["questions"]] == as_list(row["dns.qry.name"]), where
            assert [q["type"] for q in f["questions"]] == [
                int(t) for t in as_list(row["dns.qry.type"])
            ]
            records = f.get("answers", []) + f.get("authority", []) + f.get("additional", [])
            for rtype, key in ((1, "dns.a"), (28, "dns.aaaa")):
                ours = [r["data"] for r in records if r["type"] == rtype]
                assert ours == as_list(row.get(key, [])), where
            compared += 1
    assert compared >= 12


def test_arkime_dns_answers(corpus: Path) -> None:
    base = corpus / "pcaps" / "tls_dns"
    for name_ in ("arkime_dns-udp", "arkime_dns-tcp", "arkime_curl-enabled-tls13"):
        sessions = json.loads((base / f"{name_}.test.json").read_text())["sessions3"]
        responses = [
            e
            for evs in _corpus_events(base / f"{name_}.pcap").values()
            for e in evs
            if e.kind == "response"
        ]
        expected = [d for s in sessions for d in s["body"].get("dns", []) if "answers" in d]
        ours = []
        for e in responses:
            records = e.fields["answers"] + e.fields["authority"] + e.fields["additional"]
            ours.append(
                sorted(
                    (r["name"], r["type_name"], r["ttl"], r.get("data"))
                    for r in records
                    if r["type_name"] in ("A", "AAAA", "CNAME", "NS")
                )
            )
        for d in expected:
            theirs = sorted(
                (
                    a["name"],
                    a["type"],
                    a["ttl"],
                    a.get("ip") or a.get("cname") or a.get("nameserver"),
                )
                for a in d["answers"]
            )
            assert theirs in ours, name_
        opcodes = {e.fields["opcode_name"].upper() for e in responses}
        assert opcodes == {d["opcode"] for d in expected}
        assert {e.fields["rcode_name"] for e in responses} == {d["status"] for d in expected}


def test_recorded_capture_against_live_tshark() -> None:
    """glibc resolver and dnsmasq, recorded by the project: A, PTR and NXDOMAIN."""
    pcap = FIXTURES / "dns.pcap"
    fields = [
        "frame.time_epoch",
        "udp.srcport",
        "dns.id",
        "dns.flags.response",
        "dns.flags.rcode",
        "dns.qry.name",
        "dns.qry.type",
        "dns.a",
        "dns.ptr.domain_name",
    ]
    rows = tshark_rows(pcap, fields, "dns")
    events = _corpus_events(pcap)
    assert len(rows) == sum(len(v) for v in events.values()) >= 20
    for row in rows:
        (event,) = events[(round(float(row["frame.time_epoch"]), 6), int(row["udp.srcport"]))]
        f = event.fields
        assert f["id"] == int(row["dns.id"], 16)
        assert event.kind == ("response" if row["dns.flags.response"] == "1" else "query")
        assert f["rcode"] == int(row.get("dns.flags.rcode", 0))  # tshark: responses only
        assert f["query"] == row["dns.qry.name"] and f["qtype"] == int(row["dns.qry.type"])
        answers = f["answers"]
        assert [a["data"] for a in answers if a["type"] == 1] == as_list(row.get("dns.a", []))
        ptrs = [a["data"] for a in answers if a["type"] == 12]
        assert ptrs == as_list(row.get("dns.ptr.domain_name", []))
    names = {
        e.fields["query"]: e.fields["rcode_name"]
        for v in events.values()
        for e in v
        if e.kind == "response"
    }
    assert names["firmware-update.hospital.example"] == "NXDOMAIN"


def test_pipeline_gives_the_same_events(corpus: Path) -> None:
    """UDP and TCP DNS through ``medsentry analyze``: the same messages as parsed here."""
    base = corpus / "pcaps" / "tls_dns"
    compared = 0
    for pcap in [*sorted(base.glob("*.pcap")), FIXTURES / "dns.pcap"]:
        direct = [e for evs in _corpus_events(pcap).values() for e in evs]
        through = pipeline_events(pcap, "dns")
        assert sorted((e.ts, e.kind, e.fields["id"]) for e in through) == sorted(
            (e.ts, e.kind, e.fields["id"]) for e in direct
        ), pcap
        compared += len(direct)
    assert compared >= 35
