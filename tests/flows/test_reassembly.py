from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from medsentry.flows.reassembly import StreamReassembler, seq_diff

DATA = bytes(range(256)) * 8


def segments(data: bytes, isn: int, sizes: list[int]) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    for size in sizes:
        if pos >= len(data):
            break
        out.append(((isn + 1 + pos) % 2**32, data[pos : pos + size]))
        pos += size
    if pos < len(data):
        out.append(((isn + 1 + pos) % 2**32, data[pos:]))
    return out


def collect(r: StreamReassembler, segs: list[tuple[int, bytes]], isn: int) -> tuple[bytes, int]:
    out = bytearray()
    gaps = 0
    chunks = r.add(isn, b"", 0.0, syn=True)
    for seq, payload in segs:
        chunks += r.add(seq, payload, 1.0)
    chunks += r.flush()
    for c in chunks:
        if c.gap:
            gaps += c.gap
        out += c.data
    return bytes(out), gaps


def test_seq_diff_wraps() -> None:
    assert seq_diff(5, 2**32 - 5) == 10
    assert seq_diff(2**32 - 5, 5) == -10


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 300), min_size=1, max_size=40),
    seed=st.integers(0, 10_000),
    isn=st.integers(0, 2**32 - 1),
)
def test_any_order_with_duplicates_yields_the_stream(sizes: list[int], seed: int, isn: int) -> None:
    segs = segments(DATA, isn, sizes)
    rng = random.Random(seed)
    shuffled = segs + rng.sample(segs, k=min(len(segs), 3))  # retransmissions
    rng.shuffle(shuffled)
    data, gaps = collect(StreamReassembler(), shuffled, isn)
    assert data == DATA
    assert gaps == 0


def test_overlapping_retransmission_keeps_first_copy() -> None:
    r = StreamReassembler()
    r.add(99, b"", 0.0, syn=True)
    first = r.add(100, b"abcdef", 0.0)
    again = r.add(103, b"XYZghi", 0.0)  # overlaps "def", adds "ghi"
    assert b"".join(c.data for c in first + again) == b"abcdefghi"
    assert r.overlap_bytes == 3


def test_lost_segment_becomes_a_gap() -> None:
    r = StreamReassembler()
    r.add(0, b"", 0.0, syn=True)
    out = r.add(1, b"aaaa", 0.0) + r.add(9, b"cccc", 0.0) + r.flush()
    assert [(c.data, c.gap) for c in out] == [(b"aaaa", 0), (b"", 4), (b"cccc", 0)]
    assert r.gap_bytes == 4


def test_buffer_limit_forces_gap_instead_of_growing() -> None:
    r = StreamReassembler(limit=100)
    r.add(0, b"", 0.0, syn=True)
    out = []
    for k in range(10):
        out += r.add(1 + 1000 + k * 50, b"x" * 50, 0.0)  # hole of 1000 bytes never filled
    assert r.pending_bytes <= 100
    assert any(c.gap == 1000 for c in out)


def test_midstream_start_uses_first_segment() -> None:
    r = StreamReassembler()
    out = r.add(5000, b"hello", 0.0) + r.add(5005, b" world", 0.0)
    assert b"".join(c.data for c in out) == b"hello world"
