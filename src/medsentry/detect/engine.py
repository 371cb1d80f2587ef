"""The detection engine: runs every enabled detector over each batch and merges what the
model says into the rule alerts of the same episode.

Rule alerts come out once, when their episode ends (quiet for the detector's gap, or end
of input). The model's window verdicts are kept as episodes too; when a rule alert
covers the same time and addresses, the model's class and confidence are added to its
evidence instead of raising a second alert. Model episodes no rule claims are reported
on their own only when ``model.standalone`` is set.
"""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import numpy as np

from medsentry.decode.addresses import ip_text
from medsentry.decode.columns import TCP_ACK, TCP_SYN
from medsentry.detect.base import Alert, BatchView, Detector, registered
from medsentry.detect.config import DetectConfig, load_config

Endpoints = tuple[str, int, str, int]


class EndpointCache:
    """Flow uid -> (orig_h, orig_p, resp_h, resp_p), learned from packets and closed flows,
    so events of a flow can be attributed to hosts in any later batch. Bounded (LRU)."""

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self.known: OrderedDict[str, Endpoints] = OrderedDict()

    def _put(self, uid: str, ends: Endpoints) -> None:
        self.known[uid] = ends
        self.known.move_to_end(uid)
        if len(self.known) > self.limit:
            self.known.popitem(last=False)

    def complete(self, view: BatchView) -> None:
        for uid, ends in view.flow_peers.items():
            self._put(uid, ends)
        needed = {e.uid for e in view.events} - view.flow_peers.keys() - self.known.keys()
        if needed and len(view.flow_index):
            self._learn_from_packets(view, needed)
        for rec in view.flows_closed:
            if rec.uid in needed or rec.uid in self.known:
                self._put(rec.uid, (rec.orig_h, rec.orig_p, rec.resp_h, rec.resp_p))
        for e in view.events:
            known = self.known.get(e.uid)
            if known is not None:
                view.flow_peers.setdefault(e.uid, known)

    def _learn_from_packets(self, view: BatchView, needed: set[str]) -> None:
        d = view.decoded
        position = {u: i for i, u in enumerate(view.flow_uids) if u in needed}
        if not position:
            return
        want = np.fromiter(position.values(), np.int64, len(position))
        rows = np.flatnonzero(np.isin(view.flow_index, want))
        idx, first = np.unique(view.flow_index[rows], return_index=True)
        for fi, row in zip(idx.tolist(), rows[first].tolist(), strict=True):
            src = ip_text(int(d.src_hi[row]), int(d.src_lo[row]))
            dst = ip_text(int(d.dst_hi[row]), int(d.dst_lo[row]))
            sp, dp = int(d.sport[row]), int(d.dport[row])
            # A SYN names the client; otherwise (a flow picked up mid-way, or first seen
            # through the server's SYN-ACK) the server is the side on the lower port.
            flags = int(d.tcp_flags[row]) & (TCP_SYN | TCP_ACK)
            client_first = flags == TCP_SYN or (flags != (TCP_SYN | TCP_ACK) and sp >= dp)
            ends = (src, sp, dst, dp) if client_first else (dst, dp, src, sp)
            self._put(view.flow_uids[fi], ends)


class DetectionEngine:
    """``observe(view)`` per batch, ``finish()`` at end of input; both return alerts."""

    def __init__(
        self,
        config: DetectConfig | None = None,
        *,
        only: Iterable[str] | None = None,
        model: bool = True,
    ) -> None:
        self.config = config or load_config()
        wanted = set(only) if only is not None else None
        self.detectors: list[Detector] = []
        for name, factory in registered().items():
            if wanted is not None and name not in wanted:
                continue
            if self.config.enabled(name):
                self.detectors.append(factory(self.config))
        self.model: Any = None
        if model and self.config.model.enabled and (wanted is None or "model" in wanted):
            self.model = _model_detector(self.config)
        self.seen_ids: OrderedDict[str, None] = OrderedDict()  # bounded: recent alert ids
        self.packets = 0
        self.endpoints = EndpointCache()
        self.devices: list[Any] = []

    def observe(self, view: BatchView) -> list[Alert]:
        self.packets += len(view)
        if view.events:
            self.endpoints.complete(view)
        alerts: list[Alert] = []
        for det in self.detectors:
            alerts.extend(det.observe(view))
        if self.model is not None:
            self.model.observe(view)
        return self._out(alerts, final=False)

    def detector(self, name: str) -> Detector | None:
        return next((d for d in self.detectors if d.name == name), None)

    def baselines_json(self) -> list[dict[str, Any]]:
        """Device baseline profiles, as JSON (for the store and ``baseline show``)."""
        det = self.detector("baseline")
        return list(getattr(det, "profiles_json", list)())

    def load_baselines(self, profiles: Iterable[dict[str, Any]]) -> None:
        """Resume from stored profiles (learned devices stay learned across runs)."""
        det = self.detector("baseline")
        if det is not None:
            from medsentry.detect.baseline import BaselineDetector, Profile

            if isinstance(det, BaselineDetector):
                det.load([Profile.from_json(p) for p in profiles])

    def set_devices(self, devices: Iterable[Any]) -> None:
        """The inventory's devices (identity, type), for detectors that care."""
        self.devices = list(devices)

    def expire(self, now: float) -> list[Alert]:
        """Close episodes that went quiet before ``now`` (live capture with no traffic)."""
        alerts: list[Alert] = []
        for det in self.detectors:
            alerts.extend(det.expire(now))
        return self._out(alerts, final=False)

    def finish(self) -> list[Alert]:
        alerts: list[Alert] = []
        for det in self.detectors:
            alerts.extend(det.finish())
        return self._out(alerts, final=True)

    def pending(self) -> list[Alert]:
        """Alerts the open episodes would raise now (for live views; ids are final)."""
        alerts: list[Alert] = []
        for det in self.detectors:
            alerts.extend(det.pending())
        return sorted(alerts, key=lambda a: a.ts_start)

    def _out(self, alerts: list[Alert], final: bool) -> list[Alert]:
        if self.model is not None:
            for alert in alerts:
                self.model.annotate(alert)
            alerts = alerts + self.model.standalone(final)
        fresh = []
        for alert in sorted(alerts, key=lambda a: (a.ts_start, a.category.value, a.id)):
            if alert.id in self.seen_ids:
                continue
            self.seen_ids[alert.id] = None
            if len(self.seen_ids) > 100_000:
                self.seen_ids.popitem(last=False)
            fresh.append(alert)
        return fresh


def _model_detector(config: DetectConfig) -> Any:
    """The traffic-window classifier, when its module and shipped artefact are present."""
    if importlib.util.find_spec("medsentry.detect.ml.detector") is None:
        return None
    from medsentry.detect.ml.detector import ModelDetector, model_available

    return ModelDetector(config) if model_available() else None


def analyse_views(views: Iterable[BatchView], config: DetectConfig | None = None) -> list[Alert]:
    """All alerts of a finite sequence of batch views (tests, offline analysis)."""
    engine = DetectionEngine(config)
    alerts: list[Alert] = []
    for view in views:
        alerts.extend(engine.observe(view))
    alerts.extend(engine.finish())
    return alerts
