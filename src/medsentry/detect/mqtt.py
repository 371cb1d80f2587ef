"""MQTT abuse: CONNECT floods, PUBLISH floods and malformed or out-of-order MQTT.

Judged on the MQTT analyzer's events. Floods are counted per broker (``resp_h:port``)
over ``window_s`` windows, with the clients that took part; a flood needs both the total
``*_flood_min`` and the rate. Malformed packets are counted per client; a connection that
ended inside a packet (the capture stopped) is not malformed. Out-of-order packets (a
CONNACK with no CONNECT, traffic before CONNECT) also happen when a capture starts in the
middle of a connection, so they count only on connections whose TCP handshake was seen.
Refused logins are the brute-force detector's business.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from medsentry.detect.base import Alert, BatchView, Category, Severity, endpoint, register
from medsentry.detect.config import DetectConfig, MqttConfig
from medsentry.detect.episodes import Episode, EpisodeDetector, add_counts, top

MITRE_FLOOD = ["T1499.002", "T0814"]
MITRE_MALFORMED = ["T1499.004", "T0814"]
BENIGN_MALFORMATIONS = ("incomplete_frame",)
ORDER_ANOMALIES = ("missing_connect", "unintroduced_message")


@register("mqtt")
class MqttDetector(EpisodeDetector):
    name = "mqtt"

    def __init__(self, config: DetectConfig) -> None:
        self.cfg: MqttConfig = config.mqtt
        super().__init__(self.cfg.gap_s)
        self.handshake: OrderedDict[str, bool] = OrderedDict()  # uid -> SYN and SYN-ACK seen

    def _feed(self, view: BatchView) -> list[Episode]:
        closed: list[Episode] = []
        for rec in view.flows_closed:
            if rec.proto == "tcp" and rec.service in (None, "mqtt"):
                self.handshake[rec.uid] = rec.history.startswith("Sh")
                if len(self.handshake) > 100_000:
                    self.handshake.popitem(last=False)
        floods: dict[tuple[str, str], list[tuple[float, str]]] = {}
        for e in view.events:
            if e.protocol != "mqtt":
                continue
            ends = view.endpoints(e.uid)
            if ends is None:
                continue
            client, broker = ends[0], endpoint(ends[2], ends[3])
            if e.kind in ("connect", "publish") and e.direction == 0:
                floods.setdefault((e.kind, broker), []).append((e.ts, client))
            elif e.kind == "malformed" or e.kind == "anomaly":
                reason = str(e.fields.get("reason", ""))
                if reason in BENIGN_MALFORMATIONS:
                    continue
                # Blame whoever sent the broken packet (a broker can be the one).
                sender, peer = (client, broker) if e.direction == 0 else (ends[2], client)
                ep, done = self.tracker.touch(("malformed", sender), e.ts, e.ts)
                closed.extend(done)
                ep.targets[peer] = ep.targets.get(peer, 0) + 1
                if e.kind == "anomaly" and reason in ORDER_ANOMALIES:
                    pending: list[str] = ep.data.setdefault("order_uids", [])
                    if len(pending) < 256:
                        pending.append(e.uid)
                else:
                    ep.add("malformed")
                    reasons = ep.data.setdefault("reasons", {})
                    add_counts(reasons, [(f"{e.kind}:{reason}", 1)], 32)
                    ep.add_uids([e.uid])
        for (kind, broker), items in floods.items():
            ts = np.array([t for t, _ in items])
            ep, done = self.tracker.touch((kind, broker), float(ts.min()), float(ts.max()))
            closed.extend(done)
            ep.add("messages", len(items))
            ep.add_windowed("messages", ts, None, self.cfg.window_s)
            per_client: dict[str, int] = {}
            for _, c in items:
                per_client[c] = per_client.get(c, 0) + 1
            add_counts(ep.sources, per_client.items(), 256)
            ep.add_distinct("clients", per_client, 65536)
        return closed

    def _alert(self, ep: Episode) -> Alert | None:
        kind, who = ep.key
        if kind == "malformed":
            return self._malformed_alert(ep, who)
        cfg = self.cfg
        if kind == "connect":
            minimum, rate = cfg.connect_flood_min, cfg.connect_flood_rate_pps
            category, name = Category.MQTT_CONNECT_FLOOD, "MQTT CONNECT flood"
        else:
            minimum, rate = cfg.publish_flood_min, cfg.publish_flood_rate_pps
            category, name = Category.MQTT_PUBLISH_FLOOD, "MQTT PUBLISH flood"
        total = ep.counts.get("messages", 0)
        peak = ep.windowed_peak("messages") / cfg.window_s
        if total < minimum or peak < rate:
            return None
        clients = ep.distinct("clients")
        sources = top(ep.sources, 10)
        single = clients == 1
        return Alert(
            category=category,
            name=name if single else f"Distributed {name}",
            severity=Severity.HIGH,
            confidence=0.9,
            ts_start=ep.first_ts,
            ts_end=ep.last_ts,
            src=next(iter(sources)) if single else None,
            dst=who,
            targets={who: total},
            protocol="mqtt",
            counts={"messages": total, "clients": clients, "peak_per_s": round(peak, 1)},
            evidence={
                "summary": f"{total} MQTT {kind.upper()} packets to broker {who} from "
                f"{clients} client(s), peak {peak:.0f}/s",
                "top_clients": sources,
                "uids": ep.uids,
            },
            mitre=MITRE_FLOOD,
        )

    def _malformed_alert(self, ep: Episode, client: str) -> Alert | None:
        ordered = [u for u in ep.data.get("order_uids", []) if self.handshake.get(u, False)]
        count = ep.counts.get("malformed", 0) + len(ordered)
        if count < self.cfg.malformed_min:
            return None
        reasons = dict(ep.data.get("reasons", {}))
        if ordered:
            reasons["out_of_order"] = len(ordered)
        ep.add_uids(ordered)
        ranked = top(ep.targets, 8)
        return Alert(
            category=Category.MQTT_MALFORMED,
            name="Malformed MQTT",
            severity=Severity.MEDIUM,
            confidence=0.9 if ep.counts.get("malformed", 0) else 0.7,
            ts_start=ep.first_ts,
            ts_end=ep.last_ts,
            src=client,
            dst=next(iter(ranked), None),
            targets=ranked,
            protocol="mqtt",
            counts={"packets": count},
            evidence={
                "summary": f"{client} sent {count} malformed or out-of-order MQTT packet(s): "
                + ", ".join(f"{k} x{v}" for k, v in reasons.items()),
                "reasons": reasons,
                "uids": ep.uids,
            },
            mitre=MITRE_MALFORMED,
        )
