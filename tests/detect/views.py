"""Build detector batch views from capture files with the project's own reader, decoder and
flow table (the analysis pipeline does the same, plus protocol events)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from medsentry.capture.open import open_capture
from medsentry.decode.packets import decode_batch
from medsentry.detect.base import BatchView
from medsentry.flows.export import to_records, uid_texts
from medsentry.flows.table import FlowTable


def capture_views(path: Path) -> Iterator[BatchView]:
    """One view per reader batch, then a last empty view carrying the flows still open."""
    reader = open_capture(path)
    table = FlowTable()
    last = None
    for batch in reader.batches():
        d = decode_batch(batch)
        last = d
        flows, closed = table.update(d)
        flow_index = np.full(len(d), -1, np.int64)
        uniq, inverse = np.unique(flows.uid, return_inverse=True)
        flow_index[flows.rows] = inverse.reshape(-1)
        yield BatchView(d, flow_index, uid_texts(uniq), to_records(closed), [])
    if last is not None:
        empty = last.__class__(
            **{
                name: (getattr(last, name)[:0] if name != "batch" else last.batch)
                for name in last.__slots__
            }
        )
        yield BatchView(empty, np.zeros(0, np.int64), [], to_records(table.flush()), [])


def frames_views(frames: list[tuple[float, bytes]], per_batch: int = 0) -> Iterator[BatchView]:
    """Views over hand-built Ethernet frames (``per_batch`` > 0 splits them in batches)."""
    from medsentry.capture.batch import PacketBatch

    table = FlowTable()
    size = per_batch or max(1, len(frames))
    for start in range(0, len(frames), size):
        chunk = frames[start : start + size]
        batch = PacketBatch.from_packets([f for _, f in chunk], [t for t, _ in chunk])
        batch.first_index = start
        d = decode_batch(batch)
        flows, closed = table.update(d)
        flow_index = np.full(len(d), -1, np.int64)
        uniq, inverse = np.unique(flows.uid, return_inverse=True)
        flow_index[flows.rows] = inverse.reshape(-1)
        yield BatchView(d, flow_index, uid_texts(uniq), to_records(closed), [])
    empty = decode_batch(PacketBatch.empty())
    yield BatchView(empty, np.zeros(0, np.int64), [], to_records(table.flush()), [])
