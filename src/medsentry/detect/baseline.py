"""Device baselines: what a medical device normally does, and alerts when it departs.

During its first ``learning_s`` seconds (and at least ``min_learning_flows`` flows) a
device's profile collects its peers, the ports it uses and offers, the application
protocols and message types it speaks, and its busiest minute (flows per minute). Then
the profile is frozen: a new peer, port, protocol or message type, or a minute busier
than ``rate_factor`` times the learned peak, opens an episode; the alert carries the diff.
Each departure is reported once (``reported``), never learned silently: resetting the
profile (``medsentry baseline reset``) starts learning again. Profiles are plain JSON so
the store can keep them between runs and users can inspect them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from medsentry.detect.base import Alert, BatchView, Category, Severity, register
from medsentry.detect.config import BaselineConfig, DetectConfig
from medsentry.detect.episodes import Episode, EpisodeDetector
from medsentry.detect.medical import MedicalDevices

MITRE = ["T0886", "T1071"]
ASPECTS = ("peers", "ports", "protocols", "messages")


@dataclass(slots=True)
class Profile:
    device: str
    first_ts: float
    state: str = "learning"  # "learning" or "active"
    learned_until: float | None = None
    flows: int = 0
    peers: set[str] = field(default_factory=set)
    ports: set[str] = field(default_factory=set)
    protocols: set[str] = field(default_factory=set)
    messages: set[str] = field(default_factory=set)
    peak_flows_per_min: int = 0
    reported: set[str] = field(default_factory=set)
    minute: int = -1
    minute_flows: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "state": self.state,
            "first_ts": self.first_ts,
            "learned_until": self.learned_until,
            "flows": self.flows,
            "peers": sorted(self.peers),
            "ports": sorted(self.ports),
            "protocols": sorted(self.protocols),
            "messages": sorted(self.messages),
            "peak_flows_per_min": self.peak_flows_per_min,
            "reported": sorted(self.reported),
        }

    @staticmethod
    def from_json(row: dict[str, Any]) -> Profile:
        return Profile(
            device=row["device"],
            first_ts=float(row["first_ts"]),
            state=row.get("state", "learning"),
            learned_until=row.get("learned_until"),
            flows=int(row.get("flows", 0)),
            peers=set(row.get("peers", [])),
            ports=set(row.get("ports", [])),
            protocols=set(row.get("protocols", [])),
            messages=set(row.get("messages", [])),
            peak_flows_per_min=int(row.get("peak_flows_per_min", 0)),
            reported=set(row.get("reported", [])),
        )


@register("baseline")
class BaselineDetector(EpisodeDetector):
    name = "baseline"

    def __init__(self, config: DetectConfig) -> None:
        self.cfg: BaselineConfig = config.baseline
        super().__init__(self.cfg.gap_s)
        self.medical = MedicalDevices(config.medical)
        self.profiles: dict[str, Profile] = {}

    # -- profiles in and out -----------------------------------------------------------

    def load(self, profiles: list[Profile]) -> None:
        for p in profiles:
            self.profiles[p.device] = p

    def reset(self, device: str) -> bool:
        return self.profiles.pop(device, None) is not None

    def _profile(self, device: str, ts: float) -> Profile | None:
        p = self.profiles.get(device)
        if p is None:
            if device not in self.medical or len(self.profiles) >= self.cfg.max_devices:
                return None
            p = self.profiles[device] = Profile(device, ts)
        return p

    # -- observing -----------------------------------------------------------------------

    def _feed(self, view: BatchView) -> list[Episode]:
        self.medical.observe(view)
        closed: list[Episode] = []
        if not self.medical and not self.profiles:
            return closed  # no medical device known yet: nothing to watch
        for e in view.events:
            ends = view.endpoints(e.uid)
            if ends is None:
                continue
            message = f"{e.protocol}:{e.fields.get('message_type') or e.kind}"
            for device in (ends[0], ends[2]):
                p = self._profile(device, e.ts)
                if p is not None:
                    closed.extend(self._see(p, e.ts, "protocols", e.protocol, e.uid))
                    closed.extend(self._see(p, e.ts, "messages", message, e.uid))
        for rec in view.flows_closed:
            for device, peer, role in (
                (rec.orig_h, rec.resp_h, "uses"),
                (rec.resp_h, rec.orig_h, "offers"),
            ):
                p = self._profile(device, rec.ts)
                if p is None:
                    continue
                p.flows += 1
                closed.extend(self._see(p, rec.ts, "peers", peer, rec.uid))
                closed.extend(
                    self._see(p, rec.ts, "ports", f"{role} {rec.proto}/{rec.resp_p}", rec.uid)
                )
                closed.extend(self._rate(p, rec.ts, rec.uid))
                self._maybe_activate(p, rec.ts)
        return closed

    def _maybe_activate(self, p: Profile, ts: float) -> None:
        long_enough = ts - p.first_ts >= self.cfg.learning_s
        if p.state == "learning" and long_enough and p.flows >= self.cfg.min_learning_flows:
            p.state = "active"
            p.learned_until = ts

    def _see(self, p: Profile, ts: float, aspect: str, item: str, uid: str) -> list[Episode]:
        known: set[str] = getattr(p, aspect)
        if item in known:
            return []
        if p.state == "learning":
            if len(known) < self.cfg.max_items:
                known.add(item)
            return []
        key = f"{aspect}:{item}"
        if key in p.reported:
            return []
        p.reported.add(key)
        ep, closed = self.tracker.touch((p.device,), ts, ts)
        new: list[str] = ep.data.setdefault(aspect, [])
        if len(new) < self.cfg.max_items:
            new.append(item)
        ep.add_uids([uid])
        return closed

    def _rate(self, p: Profile, ts: float, uid: str) -> list[Episode]:
        minute = int(ts // 60)
        if minute != p.minute:
            p.minute, p.minute_flows = minute, 0
        p.minute_flows += 1
        if p.state == "learning":
            p.peak_flows_per_min = max(p.peak_flows_per_min, p.minute_flows)
            return []
        limit = self.cfg.rate_factor * max(1, p.peak_flows_per_min)
        if p.minute_flows <= limit:
            return []
        ep, closed = self.tracker.touch((p.device,), ts, ts)
        ep.data["rate"] = {
            "flows_per_min": max(p.minute_flows, ep.data.get("rate", {}).get("flows_per_min", 0)),
            "learned_peak": p.peak_flows_per_min,
        }
        ep.add_uids([uid])
        return closed

    def _alert(self, ep: Episode) -> Alert | None:
        (device,) = ep.key
        diff = {a: ep.data[a] for a in ASPECTS if ep.data.get(a)}
        if "rate" in ep.data:
            diff["rate"] = ep.data["rate"]
        items = sum(len(v) for k, v in diff.items() if k != "rate")
        if items < self.cfg.min_new_items and "rate" not in diff:
            return None
        parts = [f"{len(v)} new {k}" for k, v in diff.items() if k != "rate"]
        if "rate" in diff:
            rate = diff["rate"]
            parts.append(f"{rate['flows_per_min']} flows/min (learned {rate['learned_peak']})")
        peers = diff.get("peers", [])
        return Alert(
            category=Category.BASELINE_DEVIATION,
            name="Device departs from its baseline",
            severity=Severity.MEDIUM,
            confidence=0.7,
            ts_start=ep.first_ts,
            ts_end=ep.last_ts,
            src=device,
            dst=peers[0] if peers else None,
            targets={p: 1 for p in peers[:32]},
            devices=[device],
            counts={"new_items": items},
            evidence={"summary": f"{device}: " + ", ".join(parts), "diff": diff, "uids": ep.uids},
            mitre=MITRE,
        )

    def profiles_json(self) -> list[dict[str, Any]]:
        return [p.to_json() for p in self.profiles.values()]
