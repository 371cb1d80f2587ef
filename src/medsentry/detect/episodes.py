"""Episodes: activity of one kind from one actor, grouped in time, reported once.

A detector feeds an ``EpisodeTracker`` with what it saw per key (e.g. a SYN-flood target,
a scanning source). The tracker merges activity until the key stays quiet for ``gap_s``
seconds of packet time, then hands the closed episode back. Memory is bounded: beyond
``max_open`` open episodes, the one idle longest is closed early.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from medsentry.detect.base import Alert, BatchView


def add_counts(into: dict[str, int], items: Iterable[tuple[str, int]], limit: int) -> None:
    """Add counts to a bounded dict: new keys beyond ``limit`` go to ``"(other)"``."""
    for key, n in items:
        if key in into or len(into) < limit:
            into[key] = into.get(key, 0) + n
        else:
            into["(other)"] = into.get("(other)", 0) + n


def top(counts: dict[str, int], n: int) -> dict[str, int]:
    """The ``n`` largest entries, largest first (ties by name for stable output)."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return dict(ranked[:n])


@dataclass(slots=True)
class Episode:
    key: tuple[Any, ...]
    first_ts: float
    last_ts: float
    counts: dict[str, int] = field(default_factory=dict)
    targets: dict[str, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    uids: list[str] = field(default_factory=list)
    # Detector-specific bounded state (sets of distinct ports, peak rates, ...).
    data: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def peak(self, name: str, value: float) -> None:
        if value > self.data.get(name, float("-inf")):
            self.data[name] = value

    def add_uids(self, uids: Iterable[str], limit: int = 5) -> None:
        for uid in uids:
            if len(self.uids) >= limit:
                return
            if uid not in self.uids:
                self.uids.append(uid)

    def add_distinct(self, name: str, values: Iterable[Hashable], limit: int = 4096) -> None:
        """Remember distinct values (at most ``limit``); ``distinct(name)`` counts them."""
        seen: set[Hashable] = self.data.setdefault(name, set())
        room = limit - len(seen)
        if room <= 0:
            self.data[name + "#overflow"] = True
            return
        items = values if isinstance(values, list) else list(values)
        seen.update(items if len(items) <= room else items[:room])
        while len(seen) > limit:
            seen.pop()

    def distinct(self, name: str) -> int:
        return len(self.data.get(name, ()))

    def add_windowed(
        self,
        name: str,
        ts: npt.NDArray[np.float64],
        values: npt.NDArray[np.uint64] | None,
        window_s: float,
    ) -> None:
        """Track the most distinct ``values`` (or, without values, the most items) seen
        within any ``window_s`` stretch: two sets of fixed bins shifted by half a window,
        so a burst across a bin edge is still seen whole in one of them. Only the newest
        bin of each set is kept between batches. ``windowed_peak(name)`` reads it."""
        if len(ts) == 0:
            return
        state: dict[int, tuple[int, set[int] | int]] = self.data.setdefault(name + "#win", {})
        peak = int(self.data.get(name + "#peak", 0))
        for phase in (0, 1):
            bins = np.floor(ts / window_s + 0.5 * phase).astype(np.int64)
            if values is None:
                ub, counts = np.unique(bins, return_counts=True)
                per_bin = dict(zip(ub.tolist(), counts.tolist(), strict=True))
            else:
                pairs = np.unique(
                    np.stack([bins.astype(np.uint64), values.astype(np.uint64)], 1), axis=0
                )
                ub, counts = np.unique(pairs[:, 0].astype(np.int64), return_counts=True)
                per_bin = dict(zip(ub.tolist(), counts.tolist(), strict=True))
            cur_bin, cur = state.get(phase, (None, 0 if values is None else set()))
            newest = int(ub.max())
            for b, n in per_bin.items():
                if b == cur_bin:
                    if isinstance(cur, int):
                        cur += n
                        peak = max(peak, cur)
                    else:
                        sel = pairs[pairs[:, 0].astype(np.int64) == b, 1]
                        if len(cur) < 65536:
                            cur.update(sel.tolist())
                        peak = max(peak, len(cur))
                else:
                    peak = max(peak, n)
            if cur_bin is None or newest > cur_bin:
                if values is None:
                    state[phase] = (newest, per_bin[newest])
                else:
                    sel = pairs[pairs[:, 0].astype(np.int64) == newest, 1]
                    state[phase] = (newest, set(sel[:65536].tolist()))
            else:
                state[phase] = (cur_bin, cur)
        self.data[name + "#peak"] = peak

    def windowed_peak(self, name: str) -> int:
        return int(self.data.get(name + "#peak", 0))

    @property
    def duration(self) -> float:
        return max(0.0, self.last_ts - self.first_ts)


class EpisodeTracker:
    """Open episodes by key; closes them after ``gap_s`` of quiet (packet time)."""

    def __init__(self, gap_s: float, max_open: int = 10_000, max_duration_s: float = 0.0):
        self.gap_s = gap_s
        self.max_open = max_open
        self.max_duration_s = max_duration_s
        self.open: dict[tuple[Any, ...], Episode] = {}
        self.watermark = float("-inf")  # newest packet time seen

    def touch(
        self, key: tuple[Any, ...], first_ts: float, last_ts: float
    ) -> tuple[Episode, list[Episode]]:
        """The open episode for ``key`` covering this activity, and any episode it closed."""
        closed: list[Episode] = []
        ep = self.open.get(key)
        if ep is not None:
            apart = first_ts - ep.last_ts > self.gap_s or ep.first_ts - last_ts > self.gap_s
            too_long = self.max_duration_s > 0 and last_ts - ep.first_ts > self.max_duration_s
            if apart or too_long:
                closed.append(self.open.pop(key))
                ep = None
        if ep is None:
            ep = Episode(key, first_ts, last_ts)
            self.open[key] = ep
            if len(self.open) > self.max_open:
                closed.extend(self._evict(len(self.open) - self.max_open, keep=key))
        else:
            ep.first_ts = min(ep.first_ts, first_ts)
            ep.last_ts = max(ep.last_ts, last_ts)
        self.watermark = max(self.watermark, last_ts)
        return ep, closed

    def _evict(self, n: int, keep: tuple[Any, ...]) -> list[Episode]:
        idle = sorted((e.last_ts, i) for i, (k, e) in enumerate(self.open.items()) if k != keep)
        keys = list(self.open)
        victims = [keys[i] for _, i in idle[:n]]
        return [self.open.pop(k) for k in victims]

    def expire(self, now: float | None = None) -> list[Episode]:
        """Close episodes quiet for longer than the gap, relative to ``now`` or the watermark."""
        ref = self.watermark if now is None else max(now, self.watermark)
        if ref == float("-inf"):
            return []
        limit = ref - self.gap_s
        done = [k for k, e in self.open.items() if e.last_ts < limit]
        return [self.open.pop(k) for k in done]

    def drain(self) -> list[Episode]:
        eps = list(self.open.values())
        self.open.clear()
        return eps

    def snapshot(self) -> list[Episode]:
        return list(self.open.values())


class EpisodeDetector:
    """Base for detectors built on one ``EpisodeTracker``: subclasses feed the tracker in
    ``_feed`` and turn a closed episode into an alert (or ``None``) in ``_alert``."""

    name = ""

    def __init__(self, gap_s: float, max_open: int = 10_000, max_duration_s: float = 0.0):
        self.tracker = EpisodeTracker(gap_s, max_open, max_duration_s)

    def _feed(self, view: BatchView) -> list[Episode]:
        raise NotImplementedError

    def _alert(self, ep: Episode) -> Alert | list[Alert] | None:
        raise NotImplementedError

    def _report(self, episodes: Iterable[Episode]) -> list[Alert]:
        alerts: list[Alert] = []
        for ep in episodes:
            made = self._alert(ep)
            if isinstance(made, Alert):
                alerts.append(made)
            elif made:
                alerts.extend(made)
        return alerts

    def observe(self, view: BatchView) -> list[Alert]:
        closed = self._feed(view) if len(view) or view.events or view.flows_closed else []
        closed.extend(self.tracker.expire())
        return self._report(closed)

    def expire(self, now: float) -> list[Alert]:
        return self._report(self.tracker.expire(now))

    def finish(self) -> list[Alert]:
        return self._report(self.tracker.drain())

    def pending(self) -> list[Alert]:
        return self._report(self.tracker.snapshot())
