"""DoS and DDoS floods: SYN, other TCP, UDP and ICMP echo, per target and network-wide.

Per batch, packets of each flood kind are grouped by target address; an episode per
(kind, target) accumulates packets, distinct sources and ports, and the peak rate over
``bucket_s`` buckets. A closed episode is a flood when it is big and fast enough and the
traffic looks one-sided:

* SYN: clients that never complete the handshake (few ACKs from the sources to the
  target compared to SYNs). A busy server's legitimate SYNs are followed by ACKs.
* TCP (no SYN, no RST): the target hardly answers (bulk transfers get ACKs back).
* UDP and ICMP echo: volume and rate only.

SYN-ACK and RST packets are never counted: unsolicited ones are backscatter of someone
else's spoofed flood (we are the spoofed address), not an attack on the target.
A port scan also sends many SYNs to one host, but to ever new ports; a flood repeats
ports or comes from many sources. "ddos" when the sources are many (spoofed or botnet),
"dos" otherwise. Fully random floods (random source AND target per packet) are caught by
a network-wide episode keyed on ``*``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from medsentry.decode.columns import (
    L3_IPV4,
    L3_IPV6,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    PROTO_UDP,
    TCP_ACK,
    TCP_CWR,
    TCP_ECE,
    TCP_RST,
    TCP_SYN,
)
from medsentry.detect.base import Alert, BatchView, Category, Severity, register
from medsentry.detect.config import DetectConfig, FloodConfig, FloodKind
from medsentry.detect.episodes import Episode, EpisodeDetector, add_counts, top
from medsentry.detect.vec import BucketCounts, group_by, ip_at

KINDS = ("syn", "tcp", "udp", "icmp")
KIND_PROTOCOL = {"syn": "tcp", "tcp": "tcp", "udp": "udp", "icmp": "icmp"}
KIND_NAME = {"syn": "SYN flood", "tcp": "TCP flood", "udp": "UDP flood", "icmp": "ICMP echo flood"}
MITRE = {
    "syn": ["T1499.001", "T1498.001", "T0814"],
    "tcp": ["T1498.001", "T0814"],
    "udp": ["T1498.001", "T0814"],
    "icmp": ["T1498.001", "T0814"],
}
SPRAY = "*"  # target key of a network-wide, random-target flood
MAX_TRACKED = 4096  # distinct sources/ports remembered per episode


def _kind_masks(view: BatchView) -> dict[str, npt.NDArray[np.bool_]]:
    d = view.decoded
    ip = (d.l3 == L3_IPV4) | (d.l3 == L3_IPV6)
    first = ip & ~d.fragment & d.l4_ok
    flags = d.tcp_flags
    tcp = first & (d.proto == PROTO_TCP)
    syn_only = tcp & ((flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN)
    echo_v4 = (d.proto == PROTO_ICMP) & (d.sport == 8)
    echo_v6 = (d.proto == PROTO_ICMPV6) & (d.sport == 128)
    unicast = ~_special_target(d.dst_hi, d.dst_lo)
    first &= unicast
    syn_only &= unicast
    tcp &= unicast
    return {
        "syn": syn_only,
        "tcp": tcp & ((flags & (TCP_SYN | TCP_RST)) == 0),
        "udp": first & (d.proto == PROTO_UDP),
        "icmp": first & (echo_v4 | echo_v6),
    }


@register("flood")
class FloodDetector(EpisodeDetector):
    name = "flood"

    def __init__(self, config: DetectConfig) -> None:
        self.cfg: FloodConfig = config.flood
        super().__init__(self.cfg.gap_s, self.cfg.max_open)
        self.per_target = {kind: BucketCounts() for kind in KINDS}
        self.spray = {kind: BucketCounts() for kind in KINDS}

    def _thresholds(self, kind: str) -> FloodKind:
        return getattr(self.cfg, kind)  # type: ignore[no-any-return]

    def _feed(self, view: BatchView) -> list[Episode]:
        d = view.decoded
        closed: list[Episode] = []
        masks = _kind_masks(view)
        # Completion and reply traffic: ACK-bearing TCP without SYN/RST, seen per address pair.
        completes = masks["tcp"] & ((d.tcp_flags & TCP_ACK) != 0)
        for kind in KINDS:
            rows = np.flatnonzero(masks[kind])
            if len(rows) == 0:
                continue
            closed.extend(self._feed_kind(view, kind, rows, completes))
        return closed

    def _feed_kind(
        self,
        view: BatchView,
        kind: str,
        rows: npt.NDArray[np.int64],
        completes: npt.NDArray[np.bool_],
    ) -> list[Episode]:
        d = view.decoded
        closed: list[Episode] = []
        thr = self._thresholds(kind)
        floor = 0.5 * thr.min_rate_pps * self.cfg.bucket_s
        bucket = np.floor(d.ts[rows] / self.cfg.bucket_s).astype(np.int64)
        keys = _pairs(d.dst_hi[rows], d.dst_lo[rows])
        # Busiest bucket of each target, counting what earlier batches put in the same bucket.
        uniq, peak = self.per_target[kind].update(keys, bucket)
        # Only targets hit at half the flood rate, or already under watch, are followed one
        # by one; the rest may still add up to a network-wide spray.
        watched = np.fromiter(
            (
                e.data["num"]
                for k, e in self.tracker.open.items()
                if k[0] == kind and "num" in e.data
            ),
            np.uint64,
        )
        chosen = (peak >= floor) | np.isin(uniq, watched)
        follow = np.isin(keys, uniq[chosen])
        if follow.any():
            sub = rows[follow]
            by_dst = group_by(keys[follow])
            t_min, t_max = by_dst.min(d.ts[sub]), by_dst.max(d.ts[sub])
            answers = self._answers(view, kind, sub, by_dst.inverse, completes)
            peak_of = dict(zip(uniq[chosen].tolist(), peak[chosen].tolist(), strict=True))
            for g in range(len(by_dst)):
                sel = sub[by_dst.inverse == g]
                num = int(keys[follow][by_dst.first[g]])
                dst = ip_at(d.dst_hi, d.dst_lo, int(sel[0]))
                ep, done = self.tracker.touch((kind, dst), float(t_min[g]), float(t_max[g]))
                closed.extend(done)
                ep.data["num"] = num
                self._accumulate(view, ep, sel, float(peak_of[num]), int(answers[g]))
        rest = ~follow
        if rest.sum() < 2:
            return closed
        spray = rows[rest]
        _, spray_peak = self.spray[kind].update(np.zeros(len(spray), np.uint64), bucket[rest])
        if spray_peak[0] < floor and (kind, SPRAY) not in self.tracker.open:
            return closed
        ep, done = self.tracker.touch(
            (kind, SPRAY), float(d.ts[spray].min()), float(d.ts[spray].max())
        )
        closed.extend(done)
        self._accumulate(view, ep, spray, float(spray_peak[0]), 0)
        ep.add_distinct("dsts", np.unique(keys[rest]).tolist(), MAX_TRACKED)
        return closed

    def _answers(
        self,
        view: BatchView,
        kind: str,
        rows: npt.NDArray[np.int64],
        inverse: npt.NDArray[np.int64],
        completes: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.int64]:
        """Per target group, signs of a real conversation: for SYNs, handshake-completing
        ACKs sent to the target; for other TCP, flood packets whose flow also carries
        packets the other way in this batch."""
        d = view.decoded
        n_groups = int(inverse.max()) + 1 if len(inverse) else 0
        if kind == "syn":
            cand = np.flatnonzero(completes)
            if len(cand) == 0:
                return np.zeros(n_groups, np.int64)
            keys_t = _pairs(d.dst_hi[rows], d.dst_lo[rows])
            uniq, first = np.unique(keys_t, return_index=True)
            group_of = inverse[first]
            keys_a = _pairs(d.dst_hi[cand], d.dst_lo[cand])
            pos = np.clip(np.searchsorted(uniq, keys_a), 0, max(0, len(uniq) - 1))
            hit = uniq[pos] == keys_a
            return np.bincount(group_of[pos[hit]], minlength=n_groups).astype(np.int64)
        if kind != "tcp" or len(view.flow_index) != len(d):
            return np.zeros(n_groups, np.int64)
        # Flows (of any TCP packet in the batch) seen from both ends.
        tcp_rows = np.flatnonzero((d.proto == PROTO_TCP) & (view.flow_index >= 0))
        fi = view.flow_index[tcp_rows]
        ends = group_by(fi, _pairs(d.src_hi[tcp_rows], d.src_lo[tcp_rows]) ^ d.sport[tcp_rows])
        sides = np.bincount(fi[ends.first], minlength=len(view.flow_uids))
        two_way = sides[np.maximum(view.flow_index[rows], 0)] >= 2
        two_way &= view.flow_index[rows] >= 0
        return np.bincount(inverse[two_way], minlength=n_groups).astype(np.int64)

    def _accumulate(
        self, view: BatchView, ep: Episode, sel: npt.NDArray[np.int64], peak: float, answers: int
    ) -> None:
        d = view.decoded
        ep.add("packets", len(sel))
        ep.add("answers", answers)
        ep.peak("peak_pps", peak / self.cfg.bucket_s)
        if ep.distinct("srcs") < MAX_TRACKED:
            ep.add_distinct(
                "srcs", np.unique(_pairs(d.src_hi[sel], d.src_lo[sel])).tolist(), MAX_TRACKED
            )
        ep.add_distinct("ports", np.unique(d.dport[sel]).tolist(), 65536)
        ecn = (d.tcp_flags[sel] & (TCP_ECE | TCP_CWR)) != 0
        if ecn.any():
            ep.add("ecn_cwr", int(ecn.sum()))
        # Top talkers, counted exactly per batch then kept bounded.
        by_src = group_by(d.src_hi[sel], d.src_lo[sel])
        order = np.argsort(-by_src.size, kind="stable")[:16]
        add_counts(
            ep.sources,
            (
                (ip_at(d.src_hi, d.src_lo, int(sel[by_src.first[g]])), int(by_src.size[g]))
                for g in order
            ),
            256,
        )
        by_port = group_by(d.dport[sel])
        porder = np.argsort(-by_port.size, kind="stable")[:8]
        ep.data.setdefault("top_ports", {})
        add_counts(
            ep.data["top_ports"],
            ((str(int(d.dport[sel[by_port.first[g]]])), int(by_port.size[g])) for g in porder),
            64,
        )
        if len(ep.uids) < 5:
            ep.add_uids(view.sample_uids(sel), 5)
        ttl = d.ttl[sel]
        ep.peak("ttl_max", float(ttl.max()))
        ep.data["ttl_min"] = min(float(ttl.min()), ep.data.get("ttl_min", 255.0))

    def _alert(self, ep: Episode) -> Alert | None:
        kind, target = ep.key
        thr = self._thresholds(kind)
        packets = ep.counts.get("packets", 0)
        peak = float(ep.data.get("peak_pps", 0.0))
        if packets < thr.min_packets or peak < thr.min_rate_pps:
            return None
        n_src, n_ports = ep.distinct("srcs"), ep.distinct("ports")
        many = n_src >= self.cfg.ddos_min_sources
        answered = ep.counts.get("answers", 0) / max(1, packets)
        if kind in ("syn", "tcp") and answered > self.cfg.max_reply_ratio:
            return None  # the target talks with these clients: busy, not flooded
        if target == SPRAY:
            # Random targets: only a flood if sources are random too (spoofed spray).
            if n_src < packets * 0.5 or ep.distinct("dsts") < packets * 0.5:
                return None
        elif kind in ("syn", "udp") and not many and n_ports > packets * 0.5:
            return None  # one source, ever new ports: a port scan, not a flood
        category = Category.DDOS if many else Category.DOS
        sources = top(ep.sources, 10)
        src = None if many else next(iter(sources), None)
        spoofed = many and n_src >= packets * 0.5
        dur = ep.duration
        evidence = {
            "summary": (
                f"{packets} {KIND_NAME[kind].split()[0]} packets to {target} from "
                f"{n_src}{'+' if n_src >= MAX_TRACKED else ''} source(s) in {dur:.1f} s, "
                f"peak {peak:.0f} pkt/s"
            ),
            "top_sources": sources,
            "top_ports": top(ep.data.get("top_ports", {}), 10),
            "spoofed_sources": spoofed,
            "ttl_range": [ep.data.get("ttl_min"), ep.data.get("ttl_max")],
            "uids": ep.uids,
        }
        if "ecn_cwr" in ep.counts:
            evidence["flags"] = "SYN with ECE/CWR set"
        counts = {
            "packets": packets,
            "sources": n_src,
            "dst_ports": n_ports,
            "peak_pps": round(peak, 1),
            "answers": ep.counts.get("answers", 0),
        }
        if target == SPRAY:
            counts["targets"] = ep.distinct("dsts")
        severity = Severity.CRITICAL if many and packets >= 10 * thr.min_packets else Severity.HIGH
        prefix = "Distributed " if many else ""
        return Alert(
            category=category,
            name=f"{prefix}{KIND_NAME[kind]}" + (" (random targets)" if target == SPRAY else ""),
            severity=severity,
            confidence=min(0.99, 0.7 + 0.3 * min(1.0, packets / (10 * thr.min_packets))),
            ts_start=ep.first_ts,
            ts_end=ep.last_ts,
            src=src,
            dst=None if target == SPRAY else target,
            targets={target: packets} if target != SPRAY else {},
            protocol=KIND_PROTOCOL[kind],
            counts=counts,
            evidence=evidence,
            mitre=MITRE[kind],
        )


def _special_target(
    hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64]
) -> npt.NDArray[np.bool_]:
    """Broadcast, multicast and loopback destinations: not a victim host (DHCP and
    discovery broadcasts are judged by their own detectors)."""
    v4 = (hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))
    a = (lo & np.uint64(0xFFFFFFFF)).astype(np.uint64)
    first_octet = a >> np.uint64(24)
    v4_special = (
        (a == np.uint64(0xFFFFFFFF))
        | (first_octet == 127)
        | ((first_octet >= 224) & (first_octet < 240))
    )
    v6_multicast = (hi >> np.uint64(56)) == np.uint64(0xFF)
    v6_loop = (hi == 0) & (lo == 1)
    return np.where(v4, v4_special, v6_multicast | v6_loop)


def _pairs(hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """One 64-bit key per address (IPv4 exactly; IPv6 folded, collisions negligible)."""
    return (lo ^ (hi * np.uint64(0x9E3779B97F4A7C15))).astype(np.uint64)
