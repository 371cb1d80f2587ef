"""Test utility: replay small corpus captures into protocol analyzers.

Uses dpkt only to pull TCP/UDP payloads out of the reference captures, the way the
pipeline will: per TCP connection, in-order bytes per direction with gaps marked.
Good enough for the small, clean captures of the corpus; not a reassembler.
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dpkt
import pytest
from hypothesis import strategies as st

from medsentry.protocols.base import ORIG, RESP, ProtocolEvent

_SEQ_MOD = 1 << 32


@dataclass
class TcpConnection:
    orig: tuple[str, int]
    resp: tuple[str, int]
    # ("data", direction, bytes, ts) or ("gap", direction, size, ts), in capture order
    ops: list[tuple[str, int, Any, float]] = field(default_factory=list)

    def stream(self, direction: int) -> bytes:
        return b"".join(op[2] for op in self.ops if op[0] == "data" and op[1] == direction)


@dataclass(frozen=True)
class Datagram:
    ts: float
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


def _addr(raw: bytes) -> str:
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw)


def _ip_packets(path: Path) -> Iterator[tuple[float, Any]]:
    """(ts, dpkt IP/IP6 object) for every IP packet of a pcap or pcapng file."""
    with path.open("rb") as fh:
        magic = fh.read(4)
        fh.seek(0)
        reader: Any = (
            dpkt.pcapng.Reader(fh) if magic == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(fh)
        )
        link = reader.datalink()
        for ts, buf in reader:
            ip = _decode_link(link, buf)
            if ip is not None:
                yield float(ts), ip


def _decode_link(link: int, buf: bytes) -> Any:
    if link == dpkt.pcap.DLT_EN10MB:
        frame = dpkt.ethernet.Ethernet(buf)
        payload = frame.data
    elif link in (dpkt.pcap.DLT_NULL, dpkt.pcap.DLT_LOOP):
        payload = dpkt.loopback.Loopback(buf).data
    elif link == dpkt.pcap.DLT_LINUX_SLL:
        payload = dpkt.sll.SLL(buf).data
    elif link in (dpkt.pcap.DLT_RAW, 228, 229, 12, 14):
        version = buf[0] >> 4 if buf else 0
        payload = dpkt.ip.IP(buf) if version == 4 else dpkt.ip6.IP6(buf)
    else:
        raise ValueError(f"link type {link} not handled by the test replay")
    if isinstance(payload, dpkt.ip.IP | dpkt.ip6.IP6):
        return payload
    return None


def tcp_connections(path: Path) -> list[TcpConnection]:
    """TCP connections of a capture with their per-direction in-order operations."""
    conns: dict[tuple[Any, ...], TcpConnection] = {}
    expected: dict[tuple[Any, ...], int] = {}
    for ts, ip in _ip_packets(path):
        tcp = ip.data
        if not isinstance(tcp, dpkt.tcp.TCP):
            continue
        src, dst = (_addr(ip.src), tcp.sport), (_addr(ip.dst), tcp.dport)
        key = tuple(sorted((src, dst)))
        conn = conns.get(key)
        syn = bool(tcp.flags & dpkt.tcp.TH_SYN)
        if conn is None:
            # the SYN sender is the originator; midstream, the higher port is the client
            if syn and not tcp.flags & dpkt.tcp.TH_ACK:
                orig, resp = src, dst
            elif syn:
                orig, resp = dst, src
            else:
                orig, resp = (src, dst) if src[1] > dst[1] else (dst, src)
            conn = conns[key] = TcpConnection(orig, resp)
        direction = ORIG if src == conn.orig else RESP
        dkey = (key, direction)
        if syn:
            expected[dkey] = (tcp.seq + 1) % _SEQ_MOD
            continue
        data = bytes(tcp.data)
        if not data:
            continue
        seq = tcp.seq
        if dkey not in expected:
            expected[dkey] = seq
        delta = (seq - expected[dkey]) % _SEQ_MOD
        if delta >= _SEQ_MOD // 2:  # retransmission or overlap: keep only new bytes
            overlap = _SEQ_MOD - delta
            if overlap >= len(data):
                continue
            data, seq = data[overlap:], (seq + overlap) % _SEQ_MOD
        elif delta:
            conn.ops.append(("gap", direction, delta, ts))
        conn.ops.append(("data", direction, data, ts))
        expected[dkey] = (seq + len(data)) % _SEQ_MOD
    return list(conns.values())


def udp_datagrams(path: Path) -> list[Datagram]:
    out = []
    for ts, ip in _ip_packets(path):
        udp = ip.data
        if isinstance(udp, dpkt.udp.UDP):
            src, dst = (_addr(ip.src), udp.sport), (_addr(ip.dst), udp.dport)
            out.append(Datagram(ts, src, dst, bytes(udp.data)))
    return out


Chunker = Callable[[bytes], Iterable[bytes]]


def replay(
    analyzer: Any, conn: TcpConnection, chunker: Chunker | None = None
) -> list[ProtocolEvent]:
    """Feed one connection into a stream analyzer; ``chunker`` re-splits each segment."""
    events: list[ProtocolEvent] = []
    last_ts = 0.0
    for op, direction, value, ts in conn.ops:
        last_ts = ts
        if op == "gap":
            events += analyzer.gap(direction, value, ts)
            continue
        for piece in chunker(value) if chunker else (value,):
            events += analyzer.feed(direction, piece, ts)
    events += analyzer.close(last_ts)
    return events


def one_byte_chunks(data: bytes) -> Iterator[bytes]:
    for i in range(len(data)):
        yield data[i : i + 1]


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at the given offsets (sorted, de-duplicated, inside the data)."""
    edges = [0, *sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def random_chunker(seed: int, max_cuts: int = 5) -> Chunker:
    """A chunker cutting every segment at up to ``max_cuts`` random places."""
    rng = random.Random(seed)

    def chunker(data: bytes) -> list[bytes]:
        cuts = (
            rng.sample(range(1, len(data)), min(len(data) - 1, max_cuts)) if len(data) > 1 else []
        )
        return split_at(data, cuts)

    return chunker


def zeek_log(path: Path) -> list[dict[str, str]]:
    """Rows of a Zeek ASCII log (tab-separated, ``#fields`` header)."""
    fields: list[str] = []
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            rows.append(dict(zip(fields, line.split("\t"), strict=True)))
    return rows


def feed_all(analyzer: Any, chunks: Iterable[tuple[int, bytes]]) -> list[ProtocolEvent]:
    """Feed (direction, bytes) chunks at ts 1.0, then close at ts 2.0."""
    events: list[ProtocolEvent] = []
    for direction, data in chunks:
        events += analyzer.feed(direction, data, 1.0)
    return events + analyzer.close(2.0)


def kinds(events: list[ProtocolEvent]) -> list[str]:
    return [e.kind for e in events]


def as_list(value: Any) -> list[Any]:
    """tshark's JSON gives a scalar for one value and a list for several."""
    return value if isinstance(value, list) else [value]


# -- fuzzing helpers -------------------------------------------------------------------------

_BOUNDARY = (0x00, 0x01, 0x7F, 0x80, 0xC0, 0xFE, 0xFF)


@st.composite
def mutated(draw: st.DrawFn, seed: bytes, max_edits: int = 6) -> bytes:
    """``seed`` with a few byte-level edits: flips, boundary values, inserts, cuts."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, max_edits))):
        if not data:
            data += draw(st.binary(min_size=1, max_size=16))
            continue
        pos = draw(st.integers(0, len(data) - 1))
        edit = draw(st.sampled_from(("flip", "boundary", "insert", "delete", "repeat", "cut")))
        if edit == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif edit == "boundary":
            data[pos] = draw(st.sampled_from(_BOUNDARY))
        elif edit == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif edit == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
        elif edit == "repeat":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 64))]
        else:
            del data[pos:]
    return bytes(data)


def stream_seeds(
    paths: Iterable[Path], ports: set[int], cap: int = 8192
) -> list[list[tuple[int, bytes]]]:
    """Per TCP connection on ``ports``: its (direction, bytes) turns, each capped."""
    seeds = []
    for path in paths:
        for conn in tcp_connections(path):
            if not {conn.orig[1], conn.resp[1]} & ports:
                continue
            turns: list[tuple[int, bytes]] = []
            for op, direction, value, _ in conn.ops:
                if op != "data":
                    continue
                if turns and turns[-1][0] == direction:
                    turns[-1] = (direction, (turns[-1][1] + value)[:cap])
                else:
                    turns.append((direction, value[:cap]))
            if turns:
                seeds.append(turns)
    return seeds


def check_events(events: list[ProtocolEvent], protocol: str) -> None:
    """What every analyzer promises whatever the input: typed, JSON-ready events."""
    for event in events:
        assert isinstance(event, ProtocolEvent) and event.protocol == protocol
        json.dumps(event.to_json())
        if event.kind in ("malformed", "anomaly"):
            assert isinstance(event.fields["reason"], str)


def fuzz_stream(
    data: st.DataObject,
    factory: Callable[[str], Any],
    seeds: list[list[tuple[int, bytes]]],
    limit: int,
) -> None:
    """Mutate one seed connection; it must parse without error, with bounded buffers,
    and give the same events however its bytes are cut."""
    turns = list(data.draw(st.sampled_from(seeds)))
    index = data.draw(st.integers(0, len(turns) - 1))
    turns[index] = (turns[index][0], data.draw(mutated(turns[index][1])))
    whole = factory("F")
    events: list[ProtocolEvent] = []
    for direction, payload in turns:
        events += whole.feed(direction, payload, 1.0)
        assert whole.buffered_bytes() <= limit
    events += whole.close(2.0)
    check_events(events, whole.protocol)
    chunked = factory("F")
    again: list[ProtocolEvent] = []
    for direction, payload in turns:
        cuts = data.draw(st.sets(st.integers(1, max(1, len(payload) - 1)), max_size=6))
        for piece in split_at(payload, cuts):
            again += chunked.feed(direction, piece, 1.0)
    assert again + chunked.close(2.0) == events


def fuzz_datagram(
    data: st.DataObject,
    parser: Callable[..., list[ProtocolEvent]],
    seeds: list[bytes],
    protocol: str,
) -> None:
    """Mutate one seed datagram; the parser must give exactly one well-formed event."""
    payload = data.draw(mutated(data.draw(st.sampled_from(seeds)), max_edits=10))
    events = parser(payload, 1.0, "U", 0)
    assert len(events) == 1
    check_events(events, protocol)


# -- fixtures recorded by the project and a live tshark oracle -------------------------------

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "captures"


def tshark_rows(
    path: Path, fields: list[str], display_filter: str, decode_as: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """tshark's values per matching frame, shaped like the corpus' tshark_expected lines
    (absent fields left out, one value as a string, several as a list)."""
    exe = shutil.which("tshark")
    if exe is None:
        pytest.fail("tshark is not installed (.ci/run installs it)")
    cmd = [exe, "-n", "-r", str(path), "-Y", display_filter, "-T", "fields"]
    cmd += ["-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=\x1f"]
    for rule in decode_as:
        cmd += ["-d", rule]
    for name in fields:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    rows = []
    for line in out.stdout.splitlines():
        row: dict[str, Any] = {}
        for name, value in zip(fields, line.split("\t"), strict=True):
            if value:
                parts = value.split("\x1f")
                row[name] = parts[0] if len(parts) == 1 else parts
        rows.append(row)
    return rows


# -- the product's own pipeline ----------------------------------------------------------------


class _CollectingSink:
    """A pipeline sink that keeps the protocol events in memory."""

    def __init__(self) -> None:
        self.collected: list[ProtocolEvent] = []

    def flows(self, records: list[Any]) -> None:
        pass

    def events(self, events: list[ProtocolEvent]) -> None:
        self.collected += events

    def alerts(self, alerts: list[Any]) -> None:
        pass

    def devices(self, devices: list[Any]) -> None:
        pass

    def close(self) -> None:
        pass


def pipeline_events(path: Path, protocol: str) -> list[ProtocolEvent]:
    """The events of one protocol that ``medsentry analyze`` produces for a capture."""
    from medsentry.analysis.pipeline import Analysis

    sink = _CollectingSink()
    analysis = Analysis([sink])
    analysis.analyze_file(path)
    analysis.finish()
    return [e for e in sink.collected if e.protocol == protocol]


def comparable(events: list[ProtocolEvent]) -> list[tuple[Any, ...]]:
    """Events without their flow uid, in a stable order, to compare two runs."""
    rows = [
        (e.ts, e.kind, e.direction, e.phi, json.dumps(e.fields, sort_keys=True)) for e in events
    ]
    return sorted(rows)
