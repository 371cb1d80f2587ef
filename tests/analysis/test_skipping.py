"""Passing over bytes analyzers do not need must never change the events."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from medsentry.analysis.pipeline import Analysis, AnalysisOptions
from medsentry.analysis.sinks import JsonlSink
from medsentry.flows.reassembly import StreamReassembler

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "src" / "medsentry" / "examples" / "hospital_demo.pcap"
FIXTURES = sorted((ROOT / "tests" / "fixtures" / "captures").glob("*.pcap"))


def events_jsonl(capture: Path, out: Path, skipping: bool, chunk_size: int = 16 << 20) -> str:
    analysis = Analysis(sinks=[JsonlSink(out)], options=AnalysisOptions(chunk_size=chunk_size))
    assert analysis.app is not None
    analysis.app.skipping = skipping
    analysis.analyze_file(capture)
    analysis.finish()
    for sink in analysis.sinks:
        sink.close()
    return (out / "events.jsonl").read_text()


def assert_same_events(capture: Path, tmp_path: Path, chunk_size: int = 16 << 20) -> str:
    fast = events_jsonl(capture, tmp_path / "on", True, chunk_size)
    slow = events_jsonl(capture, tmp_path / "off", False, chunk_size)
    assert fast == slow
    return fast


@pytest.mark.parametrize("capture", [DEMO, *FIXTURES], ids=lambda p: p.name)
def test_repository_captures_give_the_same_events(capture: Path, tmp_path: Path) -> None:
    assert_same_events(capture, tmp_path)


def test_http_corpus_gives_the_same_events(corpus: Path, tmp_path: Path) -> None:
    captures = sorted((corpus / "pcaps" / "http").glob("*.pcap*"))
    assert captures
    for k, capture in enumerate(captures):
        assert_same_events(capture, tmp_path / str(k))


# -- a synthetic HTTP connection with a large body ---------------------------------------

CLIENT, SERVER = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
SYN, ACK, PSH = 0x02, 0x10, 0x08


def _packet(ts: float, to_server: bool, seq: int, flags: int, payload: bytes = b"") -> bytes:
    src, dst = (CLIENT, SERVER) if to_server else (SERVER, CLIENT)
    sport, dport = (40000, 80) if to_server else (80, 40000)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq % (1 << 32), 0, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0, 64, 6, 0, src, dst)
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    frame = eth + ip + tcp + payload
    sec, usec = int(ts), round((ts - int(ts)) * 1e6)
    return struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame


def http_capture(
    path: Path, isn: int, body: int, lose: set[int], swap: set[int], cut: int | None
) -> None:
    """One GET answered by a ``body``-byte response sent in 1000-byte segments. Segment
    numbers in ``lose`` are never sent, those in ``swap`` trade places with the next one,
    and with ``cut`` the capture stops after that many segments."""
    cisn = 7
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    ts = 1000.0
    request = b"GET /fhir/Observation HTTP/1.1\r\nHost: ehr\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % body
    out.append(_packet(ts, True, cisn, SYN))
    out.append(_packet(ts + 0.001, False, isn, SYN | ACK))
    out.append(_packet(ts + 0.002, True, cisn + 1, PSH | ACK, request))
    stream = head + bytes(k % 251 for k in range(body))
    segments = [(isn + 1 + k, stream[k : k + 1000]) for k in range(0, len(stream), 1000)]
    order = list(range(len(segments)))
    for k in sorted(swap):
        if k + 1 < len(order):
            order[k], order[k + 1] = order[k + 1], order[k]
    order = [k for k in order if k not in lose]
    if cut is not None:
        order = order[:cut]
    for n, k in enumerate(order):
        seq, data = segments[k]
        out.append(_packet(ts + 0.01 + n * 0.001, False, seq, PSH | ACK, data))
        if n % 7 == 3:  # a retransmission now and then
            out.append(_packet(ts + 0.0105 + n * 0.001, False, seq, PSH | ACK, data))
    path.write_bytes(b"".join(out))


def response(events: str) -> dict[str, Any]:
    found = [json.loads(line) for line in events.splitlines()]
    return next(e for e in found if e.get("kind") == "response")


@pytest.mark.parametrize(
    ("isn", "lose", "swap", "cut"),
    [
        (1000, set(), set(), None),
        ((1 << 32) - 20_500, set(), set(), None),  # sequence numbers wrap inside the body
        ((1 << 32) - 30_000, {25}, {10, 40}, None),  # a lost and reordered segments
        (5, set(), {3}, 30),  # the capture ends inside the body
    ],
)
def test_large_body_is_passed_over_with_the_same_events(
    tmp_path: Path, isn: int, lose: set[int], swap: set[int], cut: int | None
) -> None:
    capture = tmp_path / "http.pcap"
    http_capture(capture, isn, 60_000, lose, swap, cut)
    # Small chunks: many batches, so ranges are dropped before the per-packet loop too.
    events = assert_same_events(capture, tmp_path, chunk_size=4096)
    answer = response(events)
    if cut is None:
        assert answer["body_bytes"] == 60_000
        assert answer.get("body_gap", False) == bool(lose)
    else:  # the head and the body bytes of the segments captured
        assert 0 < answer["body_bytes"] < 30 * 1000


def test_skipping_reaches_the_analyzer_without_the_bytes(tmp_path: Path) -> None:
    capture = tmp_path / "http.pcap"
    http_capture(capture, (1 << 32) - 20_500, 60_000, set(), set(), None)
    analysis = Analysis(options=AnalysisOptions(chunk_size=4096))
    app = analysis.app
    assert app is not None
    fed: list[int] = []
    original = app._feed

    def counting(stream: Any, side: int, data: bytes, gap: int, ts: float) -> Any:
        fed.append(len(data))
        return original(stream, side, data, gap, ts)

    app._feed = counting  # type: ignore[method-assign]
    analysis.analyze_file(capture)
    analysis.finish()
    # The request, the response head with the body's first segment and the final byte.
    assert sum(fed) < 3000
    assert len(fed) <= 4


def test_reassembler_advance_wraps_and_releases_waiting_data() -> None:
    r = StreamReassembler()
    start = (1 << 32) - 10
    assert [c.data for c in r.add(start, b"ab", 1.0)] == [b"ab"]
    assert r.add(start + 30, b"tail", 2.0) == []  # waits behind bytes not needed
    chunks = r.advance(28)
    assert r.next_seq == (start + 34) % (1 << 32)
    assert [c.data for c in chunks] == [b"tail"]
    assert r.skipped_bytes == 28
    assert r.add(start + 10, b"old", 3.0) == []  # inside the passed-over range
