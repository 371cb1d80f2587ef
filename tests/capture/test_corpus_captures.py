"""Every capture of the reference corpus is read, and damaged copies fail cleanly."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from medsentry.capture.open import open_capture
from medsentry.decode.packets import decode_batch
from medsentry.errors import CaptureError, UnsupportedCaptureError
from medsentry.flows.table import FlowTable
from tests.corpus_files import capture_files, ids

CAPTURES = capture_files()


def count_packets(path: Path) -> int:
    reader = open_capture(path)
    try:
        return sum(len(b) for b in reader.batches())
    finally:
        reader.source.close()


@pytest.mark.corpus
def test_packet_counts_match_capinfo(corpus: Path) -> None:
    rows = list(csv.DictReader((corpus / "pcaps" / "CAPINFO.tsv").open(), delimiter="\t"))
    assert len(rows) > 90
    checked = 0
    for row in rows:
        path = corpus / "pcaps" / row["local_path"]
        if row["link_type"].startswith("ieee-802-11"):
            with pytest.raises(UnsupportedCaptureError):
                count_packets(path)
            continue
        assert count_packets(path) == int(row["packets"]), row["local_path"]
        checked += 1
    assert checked == len(rows) - 1


def _damaged_runs(path: Path, tmp_path: Path, seed: int) -> None:
    data = path.read_bytes()[:3_000_000]  # the head of a large capture is enough
    rng = random.Random(seed)
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: rng.randrange(24, len(data))] if len(data) > 24 else data)
    flipped = tmp_path / "flip.pcap"
    raw = bytearray(data)
    for _ in range(max(1, len(raw) // 500)):
        pos = rng.randrange(24, len(raw)) if len(raw) > 24 else 0
        raw[pos] ^= 0xFF
    flipped.write_bytes(bytes(raw))
    for damaged in (cut, flipped):
        table = FlowTable()
        decoded = 0
        try:
            for batch in open_capture(damaged).batches():
                table.update(decode_batch(batch))
                decoded += len(batch)
        except CaptureError as exc:
            assert exc.offset >= 0 and str(damaged) in str(exc)
            assert exc.packets_read == decoded  # nothing decoded before the error is lost
        table.flush()


@pytest.mark.corpus
@pytest.mark.parametrize("path", CAPTURES, ids=ids(CAPTURES))
def test_damaged_copies_fail_cleanly(corpus: Path, path: Path, tmp_path: Path) -> None:
    try:
        open_capture(path).source.close()
    except UnsupportedCaptureError:
        return
    _damaged_runs(path, tmp_path, seed=len(path.name))
