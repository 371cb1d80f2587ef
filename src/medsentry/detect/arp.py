"""ARP spoofing (and ARP sweeps) from ARP packets and from the IP traffic around them.

Who owns an IPv4 address is learned from every ARP packet (sender fields, and the target
fields of replies, which name the real requester) and from unicast IP traffic (the MAC a
host sends from). A MAC is "spoofing" when it:

* answers for an address nobody asked it about (unsolicited reply) while that address
  belongs to another MAC, or while it already uses another address of its own; the real
  poisoning case often shows the gateway's true MAC only as the next hop of IP traffic,
  never in ARP, so the second test is what catches it;
* makes an address flip between two MACs again and again;
* sends a storm of gratuitous announcements.

Evidence names the victims (who the forged replies were sent to, and who then sent IP
traffic for other addresses to the attacker's MAC). One host asking for very many
addresses in a short time is an ARP sweep (``recon_ping_sweep``).

ARP is a sliver of traffic; its packets are handled one by one in time order (bindings
depend on order), everything else with column operations.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from medsentry.decode.addresses import ipv4_text, mac_text
from medsentry.decode.columns import L3_ARP, L3_IPV4
from medsentry.detect.base import Alert, BatchView, Category, Severity, register
from medsentry.detect.config import ArpConfig, DetectConfig
from medsentry.detect.episodes import Episode, EpisodeDetector, top
from medsentry.detect.vec import group_by

ARP_REQUEST = 1
ARP_REPLY = 2
SOLICIT_WINDOW_S = 10.0  # a reply this soon after the matching request answers it
IP_SAMPLE = 8  # learn IP->MAC bindings from one IPv4 packet in this many
BROADCAST = 0xFFFFFFFFFFFF
IPV4_LOW = np.uint64(0xFFFFFFFF)
MITRE_SPOOF = ["T1557.002", "T0830"]
MITRE_SWEEP = ["T1018", "T0846"]


class _Bounded(OrderedDict[int, tuple[int, float]]):
    """address -> (MAC, last seen), forgetting the least recently updated beyond ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: int, mac: int, ts: float) -> None:
        self[key] = (mac, ts)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


@register("arp")
class ArpDetector(EpisodeDetector):
    name = "arp"

    def __init__(self, config: DetectConfig) -> None:
        self.cfg: ArpConfig = config.arp
        super().__init__(self.cfg.gap_s)
        self.bindings = _Bounded(self.cfg.max_bindings)  # IPv4 -> (MAC, ts)
        self.own: dict[int, dict[int, float]] = {}  # MAC -> {IPv4 it used as itself: ts}
        self.requests: OrderedDict[tuple[int, int], float] = OrderedDict()  # (asker, asked)
        self.suspects: dict[int, Episode] = {}

    # -- learning -------------------------------------------------------------------------

    def _own(self, mac: int, ip: int, ts: float) -> None:
        ips = self.own.setdefault(mac, {})
        ips[ip] = ts
        if len(ips) > 16:
            del ips[min(ips, key=ips.__getitem__)]
        if len(self.own) > self.cfg.max_bindings:
            del self.own[next(iter(self.own))]

    def _learn_from_ip(self, view: BatchView) -> None:
        """Bind source addresses of IPv4 traffic to the MAC they came from, but not for
        MACs that send from many addresses (routers forwarding for remote hosts)."""
        d = view.decoded
        # Bindings are stable: every few packets are enough to know who sends from where.
        rows = np.flatnonzero((d.l3 == L3_IPV4) & (d.eth_src != 0))[::IP_SAMPLE]
        if len(rows) == 0:
            return
        src_ip = d.src_lo[rows] & IPV4_LOW
        g = group_by(d.eth_src[rows], src_ip)
        per_mac = group_by(d.eth_src[rows][g.first])
        last = g.max(d.ts[rows])
        for k in range(len(g)):
            mac = int(d.eth_src[rows[g.first[k]]])
            if per_mac.size[per_mac.inverse[k]] > 2 or len(self.own.get(mac, ())) > 2:
                continue
            ip = int(src_ip[g.first[k]])
            if ip == 0:
                continue
            self.bindings.put(ip, mac, float(last[k]))

    # -- per ARP packet ---------------------------------------------------------------------

    def _feed(self, view: BatchView) -> list[Episode]:
        d = view.decoded
        closed: list[Episode] = []
        arp = np.flatnonzero(d.l3 == L3_ARP)
        if len(arp):
            arp = arp[np.argsort(d.ts[arp], kind="stable")]
            closed.extend(self._sweeps(view, arp))
            cols = zip(
                d.ts[arp].tolist(),
                d.arp_op[arp].tolist(),
                d.arp_sha[arp].tolist(),
                d.arp_spa[arp].tolist(),
                d.arp_tha[arp].tolist(),
                d.arp_tpa[arp].tolist(),
                d.eth_dst[arp].tolist(),
                strict=True,
            )
            for ts, op, sha, spa, tha, tpa, eth_dst in cols:
                closed.extend(self._packet(ts, op, sha, spa, tha, tpa, eth_dst))
        self._learn_from_ip(view)
        self._redirected(view)
        return closed

    def _packet(
        self, ts: float, op: int, sha: int, spa: int, tha: int, tpa: int, eth_dst: int
    ) -> list[Episode]:
        if sha == 0 or spa == 0 or op not in (ARP_REQUEST, ARP_REPLY):
            return []  # probes (0.0.0.0) and malformed packets carry no binding
        closed: list[Episode] = []
        gratuitous = spa == tpa
        if op == ARP_REQUEST and not gratuitous:
            self.requests[(spa, tpa)] = ts
            self.requests.move_to_end((spa, tpa))
            while len(self.requests) > 4096:
                self.requests.popitem(last=False)
        solicited = True
        if op == ARP_REPLY and not gratuitous:
            asked = self.requests.get((tpa, spa))
            solicited = asked is not None and 0 <= ts - asked <= SOLICIT_WINDOW_S
            if tha and tpa and tha != BROADCAST:
                self.bindings.put(tpa, tha, ts)  # the requester, addressed by its real MAC
        previous = self.bindings.get(spa)
        conflict = previous is not None and previous[0] != sha
        other_ips = [ip for ip in self.own.get(sha, {}) if ip != spa]
        forged = op == ARP_REPLY and not gratuitous and not solicited
        suspicious = (forged and (conflict or bool(other_ips))) or sha in self.suspects
        if conflict or suspicious or gratuitous:
            ep, done = self.tracker.touch(("spoof", sha), ts, ts)
            closed.extend(done)
            for old in done:
                self.suspects.pop(old.key[1], None)
            if suspicious:
                self.suspects[sha] = ep
            if gratuitous:
                ep.add("gratuitous")
            if forged:
                ep.add("unsolicited_replies")
                ep.add_distinct("claimed", [spa], 256)
                if tha and tha != BROADCAST:
                    ep.targets[ipv4_text(tpa)] = ep.targets.get(ipv4_text(tpa), 0) + 1
                    ep.add_distinct("victim_macs", [tha], 256)
            if conflict and previous is not None:
                ep.add("conflicts")
                owners = ep.data.setdefault("previous_owner", {})
                if len(owners) < 64:
                    owners.setdefault(ipv4_text(spa), mac_text(previous[0]))
                flips = ep.data.setdefault("flips", {})
                flips[spa] = flips.get(spa, 0) + 1
            if other_ips and forged:
                ep.data.setdefault("own_ips", sorted(ipv4_text(i) for i in other_ips)[:8])
        if op == ARP_REQUEST or solicited or not forged:
            self._own(sha, spa, ts)
        self.bindings.put(spa, sha, ts)
        return closed

    def _sweeps(self, view: BatchView, arp: np.ndarray) -> list[Episode]:
        """Requests from one sender for many distinct addresses: an ARP host sweep."""
        d = view.decoded
        req = arp[(d.arp_op[arp] == ARP_REQUEST) & (d.arp_spa[arp] != d.arp_tpa[arp])]
        closed: list[Episode] = []
        if len(req) < 2:
            return closed
        g = group_by(d.arp_sha[req])
        t0, t1 = g.min(d.ts[req]), g.max(d.ts[req])
        for k in range(len(g)):
            sel = req[g.inverse == k]
            if len(sel) < 2:
                continue
            sha = int(d.arp_sha[sel[0]])
            ep, done = self.tracker.touch(("sweep", sha), float(t0[k]), float(t1[k]))
            closed.extend(done)
            ep.add("requests", len(sel))
            ep.add_distinct("asked", d.arp_tpa[sel].tolist(), 65536)
            ep.add_windowed("asked", d.ts[sel], d.arp_tpa[sel], self.cfg.sweep_window_s)
            ep.data["sender_ip"] = ipv4_text(int(d.arp_spa[sel[0]]))
        return closed

    def _redirected(self, view: BatchView) -> None:
        """IP packets sent to a suspect's MAC for an address that is not its own: traffic
        the poisoning diverted. Their senders are the victims."""
        if not self.suspects:
            return
        d = view.decoded
        macs = np.fromiter(self.suspects, np.uint64, len(self.suspects))
        rows = np.flatnonzero((d.l3 == L3_IPV4) & np.isin(d.eth_dst, macs))
        if len(rows) == 0:
            return
        g = group_by(d.eth_dst[rows], d.eth_src[rows], d.dst_lo[rows] & IPV4_LOW)
        last = g.max(d.ts[rows])
        for k in range(len(g)):
            row = rows[g.first[k]]
            mac, victim = int(d.eth_dst[row]), int(d.eth_src[row])
            dst_ip = int(d.dst_lo[row] & IPV4_LOW)
            if dst_ip in self.own.get(mac, {}) or victim in self.suspects:
                continue
            ep = self.suspects[mac]
            ep.add("redirected_packets", int(g.size[k]))
            ep.add_distinct("redirect_victims", [victim], 256)
            ep.last_ts = max(ep.last_ts, float(last[k]))
            ep.add_uids(view.sample_uids(rows[g.inverse == k]), 5)

    # -- reporting --------------------------------------------------------------------------

    def _alert(self, ep: Episode) -> Alert | None:
        kind, mac = ep.key
        if kind == "sweep":
            return self._sweep_alert(ep, mac)
        self.suspects.pop(mac, None)
        c = ep.counts
        claimed = ep.distinct("claimed")
        flips = max(ep.data.get("flips", {0: 0}).values())
        forged_conflict = c.get("unsolicited_replies", 0) > 0 and c.get("conflicts", 0) >= 1
        multi_claim = c.get("unsolicited_replies", 0) > 0 and (
            claimed >= 2 or bool(ep.data.get("own_ips"))
        )
        # Only the side that pushes the change (unasked replies or announcements) is blamed;
        # the real owner answering requests also "conflicts" each time it wins back.
        pushing = c.get("unsolicited_replies", 0) > 0 or c.get("gratuitous", 0) > 0
        flip_flop = flips >= self.cfg.flip_flop_min and pushing
        storm = c.get("gratuitous", 0) >= self.cfg.gratuitous_storm_min
        if not (forged_conflict or multi_claim or flip_flop or storm):
            return None
        reasons = []
        if forged_conflict:
            reasons.append("unsolicited ARP replies claim addresses owned by other MACs")
        if multi_claim:
            reasons.append("one MAC answers, unasked, for addresses that are not its own")
        if flip_flop:
            reasons.append(f"an address flipped between MACs {flips} times")
        if storm:
            reasons.append(f"{c.get('gratuitous', 0)} gratuitous announcements")
        own_ips = ep.data.get("own_ips", [])
        attacker = mac_text(mac)
        victims = sorted(mac_text(v) for v in ep.data.get("victim_macs", set()))
        diverted = sorted(mac_text(v) for v in ep.data.get("redirect_victims", set()))
        evidence = {
            "summary": "; ".join(reasons),
            "attacker_mac": attacker,
            "attacker_ips": own_ips,
            "claimed_ips": sorted(ipv4_text(i) for i in ep.data.get("claimed", set()))[:32],
            "previous_owner": ep.data.get("previous_owner", {}),
            "victim_macs": sorted(set(victims) | set(diverted))[:32],
            "uids": ep.uids,
        }
        counts = {
            "unsolicited_replies": c.get("unsolicited_replies", 0),
            "conflicts": c.get("conflicts", 0),
            "claimed_ips": claimed,
            "gratuitous": c.get("gratuitous", 0),
            "redirected_packets": c.get("redirected_packets", 0),
        }
        strong = forged_conflict or c.get("redirected_packets", 0) > 0
        return Alert(
            category=Category.ARP_SPOOFING,
            name="ARP spoofing (man in the middle)"
            if not storm or strong
            else "Gratuitous ARP storm",
            severity=Severity.CRITICAL if strong else Severity.HIGH,
            confidence=0.95 if strong else 0.8,
            ts_start=ep.first_ts,
            ts_end=ep.last_ts,
            src=own_ips[0] if own_ips else attacker,
            dst=next(iter(top(ep.targets, 1)), None),
            targets=top(ep.targets, 32),
            devices=[attacker, *evidence["victim_macs"]],
            protocol="arp",
            counts=counts,
            evidence=evidence,
            mitre=MITRE_SPOOF,
        )

    def _sweep_alert(self, ep: Episode, mac: int) -> Alert | None:
        asked = ep.distinct("asked")
        if ep.windowed_peak("asked") < self.cfg.sweep_min_targets:
            return None
        sender = ep.data.get("sender_ip")
        return Alert(
            category=Category.RECON_PING_SWEEP,
            name="ARP host sweep",
            severity=Severity.MEDIUM,
            confidence=0.9,
            ts_start=ep.first_ts,
            ts_end=ep.last_ts,
            src=sender,
            targets={},
            devices=[mac_text(mac)],
            protocol="arp",
            counts={"requests": ep.counts.get("requests", 0), "hosts": asked},
            evidence={
                "summary": f"{sender} ({mac_text(mac)}) asked for {asked} addresses "
                f"in {ep.duration:.1f} s",
                "sample_targets": sorted(ipv4_text(i) for i in ep.data.get("asked", set()))[:10],
                "uids": [],
            },
            mitre=MITRE_SWEEP,
        )
