"""Fuzzing the capture readers and the vectorised decoder: damaged input never crashes."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medsentry.capture.batch import SUPPORTED_LINKTYPES, PacketBatch
from medsentry.capture.open import open_capture
from medsentry.decode.packets import decode_batch
from medsentry.errors import CaptureError, InputError
from medsentry.flows.table import FlowTable
from tests.packets import ACK, SYN, eth_ipv4_tcp

SEEDS = [eth_ipv4_tcp("10.0.0.1", "10.0.0.2", 1000 + k, 80, SYN | ACK, b"x" * k) for k in range(8)]
HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def _pcap(packets: list[bytes]) -> bytes:
    out = [HEADER]
    for k, p in enumerate(packets):
        out.append(struct.pack("<IIII", 1000 + k, 0, len(p), len(p)) + p)
    return b"".join(out)


def _run(path: Path) -> int:
    table = FlowTable()
    seen = 0
    try:
        for batch in open_capture(path, chunk_size=256).batches():
            d = decode_batch(batch)
            assert (d.payload_len <= batch.caplen).all()
            assert (d.payload_len >= 0).all()
            table.update(d)
            seen += len(batch)
    except CaptureError as exc:
        assert exc.packets_read == seen
    table.flush()
    return seen


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_pcaps_fail_cleanly(tmp_path: Path, data: st.DataObject) -> None:
    raw = bytearray(_pcap(SEEDS))
    for _ in range(data.draw(st.integers(1, 20))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    path = tmp_path / "m.pcap"
    path.write_bytes(bytes(raw[:cut]))
    # An unreadable header or unsupported link type: a clear error is the right answer.
    with contextlib.suppress(InputError):
        _run(path)


@pytest.mark.fuzz
@settings(deadline=None)
@given(
    packets=st.lists(st.binary(min_size=0, max_size=120), min_size=1, max_size=20),
    linktype=st.sampled_from(sorted(SUPPORTED_LINKTYPES)),
)
def test_decoder_accepts_any_bytes(packets: list[bytes], linktype: int) -> None:
    batch = PacketBatch.from_packets(packets, [float(k) for k in range(len(packets))], linktype)
    d = decode_batch(batch)
    assert len(d) == len(packets)
    assert (d.payload_off[d.payload_len > 0] >= batch.offset[d.payload_len > 0]).all()
    ends = batch.offset + batch.caplen
    assert (d.payload_off + d.payload_len <= np.maximum(ends, d.payload_off)).all()
    FlowTable().update(d)


def test_seed_capture_is_fully_read(tmp_path: Path) -> None:
    path = tmp_path / "s.pcap"
    path.write_bytes(_pcap(SEEDS))
    assert _run(path) == len(SEEDS)
