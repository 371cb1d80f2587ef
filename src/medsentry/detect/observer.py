"""The detection engine as a stage of the analysis pipeline.

The pipeline hands every batch's decoded columns, per-packet flow assignment, closed
flows and protocol events to ``observe_batch``; this builds the ``BatchView`` detectors
read (flow uids as text, flow endpoints for the events' uids) and returns the alerts of
episodes that ended. ``finish`` flushes the rest at the end of input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from medsentry.decode.addresses import ip_text
from medsentry.decode.columns import DecodedBatch
from medsentry.detect.base import Alert, BatchView
from medsentry.detect.config import DetectConfig
from medsentry.detect.engine import DetectionEngine
from medsentry.flows.export import uid_texts
from medsentry.flows.record import FlowRecord
from medsentry.flows.table import BatchFlows
from medsentry.protocols.base import ProtocolEvent


class LazyUids(Sequence[str]):
    """Flow uids as text, made only for the few a detector asks for (floods bring a new
    flow with almost every packet; formatting them all would cost more than detecting)."""

    def __init__(self, values: npt.NDArray[np.uint64]) -> None:
        self.values = values

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def __iter__(self) -> Iterator[str]:
        return iter(uid_texts(self.values))

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return uid_texts(self.values[i])
        return uid_texts(self.values[i : i + 1] if i >= 0 else self.values[[i]])[0]


def build_view(
    decoded: DecodedBatch,
    flows: BatchFlows,
    closed: list[FlowRecord],
    events: list[ProtocolEvent],
) -> BatchView:
    """A detector view of one pipeline batch."""
    n = len(decoded)
    flow_index = np.full(n, -1, np.int64)
    uids: Sequence[str] = []
    peers: dict[str, tuple[str, int, str, int]] = {}
    if len(flows.rows):
        uniq, first, inverse = np.unique(flows.uid, return_index=True, return_inverse=True)
        flow_index[flows.rows] = inverse.reshape(-1)
        uids = LazyUids(uniq)
        if events:
            texts = uid_texts(uniq)
            wanted = {e.uid for e in events}
            for k, uid in enumerate(texts):
                if uid not in wanted:
                    continue
                i = int(first[k])
                row = int(flows.rows[i])
                src = ip_text(int(decoded.src_hi[row]), int(decoded.src_lo[row]))
                dst = ip_text(int(decoded.dst_hi[row]), int(decoded.dst_lo[row]))
                sp, dp = int(decoded.sport[row]), int(decoded.dport[row])
                from_orig = int(flows.direction[i]) == 0
                peers[uid] = (src, sp, dst, dp) if from_orig else (dst, dp, src, sp)
    return BatchView(decoded, flow_index, uids, closed, events, peers)


class DetectionObserver:
    """Pipeline stage: ``Analysis(observers=[DetectionObserver()])``."""

    def __init__(
        self, engine: DetectionEngine | None = None, config: DetectConfig | None = None
    ) -> None:
        self.engine = engine or DetectionEngine(config)
        self.alerts: list[Alert] = []

    def observe_batch(
        self,
        decoded: DecodedBatch,
        flows: BatchFlows,
        closed: list[FlowRecord],
        events: list[ProtocolEvent],
    ) -> list[Any]:
        out = self.engine.observe(build_view(decoded, flows, closed, events))
        self.alerts.extend(out)
        return list(out)

    def idle(self, now: float) -> list[Any]:
        """No traffic for a while (live capture): end the episodes that went quiet."""
        out = self.engine.expire(now)
        self.alerts.extend(out)
        return list(out)

    def finish(self, devices: Iterable[Any] = ()) -> list[Any]:
        self.engine.set_devices(devices)
        out = self.engine.finish()
        self.alerts.extend(out)
        return list(out)
