"""A medical device talking to a public address it never talked to before.

For each medical device (see ``medical.py``) the public peers seen during its first
``learning_s`` seconds are its usual ones; afterwards a connection with a new public
address, in either direction, opens an episode listing the new peers.
"""

from __future__ import annotations

from medsentry.detect.base import Alert, BatchView, Category, Severity, register
from medsentry.detect.config import DetectConfig, ExternalConfig
from medsentry.detect.episodes import Episode, EpisodeDetector, add_counts, top
from medsentry.detect.medical import MedicalDevices
from medsentry.detect.netaddr_util import is_public

MITRE = ["T1071", "T0885"]


@register("external")
class ExternalPeerDetector(EpisodeDetector):
    name = "external"

    def __init__(self, config: DetectConfig) -> None:
        self.cfg: ExternalConfig = config.external
        super().__init__(self.cfg.gap_s)
        self.medical = MedicalDevices(config.medical)
        self.first_seen: dict[str, float] = {}
        self.peers: dict[str, set[str]] = {}

    def _feed(self, view: BatchView) -> list[Episode]:
        self.medical.observe(view)
        closed: list[Episode] = []
        if not self.medical:
            return closed  # no medical device known yet: nothing to watch
        for rec in view.flows_closed:
            for device, peer in ((rec.orig_h, rec.resp_h), (rec.resp_h, rec.orig_h)):
                if device not in self.medical or not is_public(peer):
                    continue
                start = self.first_seen.setdefault(device, rec.ts)
                known = self.peers.setdefault(device, set())
                if peer in known:
                    continue
                if rec.ts - start <= self.cfg.learning_s:
                    if len(known) < self.cfg.max_peers_per_device:
                        known.add(peer)
                    continue
                ep, done = self.tracker.touch((device,), rec.ts, rec.last_ts)
                closed.extend(done)
                add_counts(ep.targets, [(peer, rec.orig_pkts + rec.resp_pkts)], 64)
                ep.data.setdefault("ports", set()).add(f"{rec.resp_p}/{rec.proto}")
                ep.data["outbound"] = ep.data.get("outbound", False) or device == rec.orig_h
                ep.add_uids([rec.uid])
        return closed

    def _alert(self, ep: Episode) -> Alert:
        (device,) = ep.key
        known = self.peers.setdefault(device, set())
        new = top(ep.targets, 32)
        for peer in new:  # reported once; from now on they are known
            if len(known) < self.cfg.max_peers_per_device:
                known.add(peer)
        return Alert(
            category=Category.NEW_EXTERNAL_PEER,
            name="Medical device talks to a new public address",
            severity=Severity.HIGH if ep.data.get("outbound") else Severity.MEDIUM,
            confidence=0.8,
            ts_start=ep.first_ts,
            ts_end=ep.last_ts,
            src=device,
            dst=next(iter(new), None),
            targets=new,
            devices=[device],
            protocol=None,
            counts={"new_peers": len(new)},
            evidence={
                "summary": f"{device} ({self.medical.why(device)}) exchanged traffic with "
                f"{len(new)} public address(es) not seen in its first "
                f"{self.cfg.learning_s:.0f} s",
                "ports": sorted(ep.data.get("ports", set()))[:16],
                "uids": ep.uids,
            },
            mitre=MITRE,
        )
