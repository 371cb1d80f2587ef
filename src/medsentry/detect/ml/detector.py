"""The classifier as a detector: window features of each batch -> model episodes.

Every ``sample_every``-th window of ``window_packets`` consecutive packets is scored
(floods, the model's strength, bring windows by the thousand; sampling keeps the cost a
small share of the pipeline's). Windows the model calls an attack with at least
``min_confidence`` feed an episode per (category, main target). The engine then
*annotates* each rule alert with the model episodes of the same family, time and
target (class, confidence, windows) instead of raising a second alert. Model episodes no
rule claimed are reported on their own only with ``model.standalone: true``: on
hospital traffic the model was never trained on, a rule's explanation is required for
an alert by default.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from medsentry.decode.addresses import ip_text
from medsentry.detect.base import Alert, BatchView, Category, Severity
from medsentry.detect.config import DetectConfig, ModelConfig
from medsentry.detect.episodes import Episode, EpisodeTracker, add_counts, top
from medsentry.detect.ml.features import window_count, window_features
from medsentry.detect.ml.infer import Classifier, load_classifier, model_path

MODEL_CATEGORY = {
    "ARP_Spoofing": Category.ARP_SPOOFING,
    "DDoS-ICMP": Category.DDOS,
    "DDoS-SYN": Category.DDOS,
    "DDoS-TCP": Category.DDOS,
    "DDoS-UDP": Category.DDOS,
    "DoS-ICMP": Category.DOS,
    "DoS-SYN": Category.DOS,
    "DoS-TCP": Category.DOS,
    "DoS-UDP": Category.DOS,
    "MQTT-DDoS-Connect_Flood": Category.MQTT_CONNECT_FLOOD,
    "MQTT-DoS-Connect_Flood": Category.MQTT_CONNECT_FLOOD,
    "MQTT-DDoS-Publish_Flood": Category.MQTT_PUBLISH_FLOOD,
    "MQTT-DoS-Publish_Flood": Category.MQTT_PUBLISH_FLOOD,
    "MQTT-Malformed_Data": Category.MQTT_MALFORMED,
    "Recon-OS_Scan": Category.RECON_OS_SCAN,
    "Recon-Ping_Sweep": Category.RECON_PING_SWEEP,
    "Recon-Port_Scan": Category.RECON_PORT_SCAN,
    "Recon-VulScan": Category.RECON_VULN_SCAN,
}
FAMILY = {
    Category.DOS: "flood",
    Category.DDOS: "flood",
    Category.MQTT_CONNECT_FLOOD: "mqtt",
    Category.MQTT_PUBLISH_FLOOD: "mqtt",
    Category.MQTT_MALFORMED: "mqtt",
    Category.RECON_OS_SCAN: "recon",
    Category.RECON_PING_SWEEP: "recon",
    Category.RECON_PORT_SCAN: "recon",
    Category.RECON_VULN_SCAN: "recon",
    Category.ARP_SPOOFING: "arp",
}
CLAIM_SLACK_S = 60.0  # how far apart in time a rule alert and a model episode may be
KEEP_CLOSED = 4096  # closed model episodes kept for rule alerts that end later
PREDICT_BATCH = 512  # windows scored per call of the model


def model_available() -> bool:
    return model_path().exists()


def _mode_per_row(keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
    """Column index of the most frequent value in each row (first occurrence wins ties)."""
    eq = keys[:, :, None] == keys[:, None, :]
    return np.argmax(eq.sum(axis=2), axis=1).astype(np.int64)


class ModelDetector:
    name = "model"

    def __init__(self, config: DetectConfig, classifier: Classifier | None = None) -> None:
        self.cfg: ModelConfig = config.model
        self.classifier = classifier or load_classifier()
        self.tracker = EpisodeTracker(self.cfg.gap_s, 10_000)
        self.closed: list[Episode] = []
        self.pending: list[
            tuple[
                npt.NDArray[np.float64],
                list[str],
                list[str],
                npt.NDArray[np.float64],
                npt.NDArray[np.float64],
            ]
        ] = []
        self.pending_rows = 0

    def observe(self, view: BatchView) -> None:
        """Compute features of sampled windows now (the packets go away with the batch);
        score them later, many at a time: each call of the model costs a fixed few tens of
        milliseconds whatever the number of rows."""
        d = view.decoded
        size = self.cfg.window_packets
        total = window_count(d, size)
        if total:
            step = max(self.cfg.sample_every, -(-total // self.cfg.max_windows_per_batch))
            windows = window_features(d, size, np.arange(0, total, step))
            self.pending.append((windows.X, *self._attribute(view, windows.start, size)))
            self.pending_rows += len(windows)
        if self.pending_rows >= PREDICT_BATCH:
            self.flush()
        self._keep(self.tracker.expire())

    def flush(self) -> None:
        """Score the windows waiting and turn attack verdicts into episodes."""
        if not self.pending:
            return
        X = np.concatenate([p[0] for p in self.pending])
        dst = [x for p in self.pending for x in p[1]]
        src = [x for p in self.pending for x in p[2]]
        t0 = np.concatenate([p[3] for p in self.pending])
        t1 = np.concatenate([p[4] for p in self.pending])
        self.pending, self.pending_rows = [], 0
        labels, confidence = self.classifier.predict(X)
        for k in np.flatnonzero((labels != "Benign") & (confidence >= self.cfg.min_confidence)):
            category = MODEL_CATEGORY.get(str(labels[k]))
            if category is None:
                continue
            ep, done = self.tracker.touch((category, dst[k]), float(t0[k]), float(t1[k]))
            self._keep(done)
            ep.add("windows")
            add_counts(ep.data.setdefault("classes", {}), [(str(labels[k]), 1)], 32)
            add_counts(ep.sources, [(src[k], 1)], 64)
            ep.peak("confidence", float(confidence[k]))
            ep.data["conf_sum"] = ep.data.get("conf_sum", 0.0) + float(confidence[k])

    def _attribute(
        self, view: BatchView, starts: npt.NDArray[np.int64], size: int
    ) -> tuple[list[str], list[str], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Main target and source of each window (most frequent addresses), and its times."""
        d = view.decoded
        order = np.argsort(d.ts, kind="stable")
        position = np.empty(len(d), np.int64)
        position[order] = np.arange(len(d))
        rows = order[position[starts][:, None] + np.arange(size)[None, :]]
        mult = np.uint64(0x9E3779B97F4A7C15)
        dst_key = d.dst_lo[rows] ^ (d.dst_hi[rows] * mult)
        src_key = d.src_lo[rows] ^ (d.src_hi[rows] * mult)
        main_dst = rows[np.arange(len(rows)), _mode_per_row(dst_key)]
        main_src = rows[np.arange(len(rows)), _mode_per_row(src_key)]
        dst = [
            ip_text(int(h), int(lo))
            for h, lo in zip(d.dst_hi[main_dst], d.dst_lo[main_dst], strict=True)
        ]
        src = [
            ip_text(int(h), int(lo))
            for h, lo in zip(d.src_hi[main_src], d.src_lo[main_src], strict=True)
        ]
        return dst, src, d.ts[rows[:, 0]], d.ts[rows[:, -1]]

    def _keep(self, episodes: list[Episode]) -> None:
        self.closed.extend(episodes)
        if len(self.closed) > KEEP_CLOSED:
            self.closed = self.closed[-KEEP_CLOSED:]

    # -- merging with rule alerts -------------------------------------------------------

    def annotate(self, alert: Alert) -> None:
        """Add the model's view of the same episode to a rule alert (and claim it)."""
        family = FAMILY.get(alert.category)
        if family is None:
            return
        self.flush()
        places = {alert.dst, alert.src, *alert.targets}
        matched = []
        for ep in [*self.closed, *self.tracker.snapshot()]:
            category, dst = ep.key
            if FAMILY.get(category) != family or ep.data.get("claimed"):
                continue
            overlaps = (
                ep.first_ts <= alert.ts_end + CLAIM_SLACK_S
                and ep.last_ts >= alert.ts_start - CLAIM_SLACK_S
            )
            if overlaps and (dst in places or alert.dst is None):
                matched.append(ep)
        if not matched:
            return
        windows = sum(ep.counts.get("windows", 0) for ep in matched)
        classes: dict[str, int] = {}
        for ep in matched:
            ep.data["claimed"] = True
            add_counts(classes, ep.data.get("classes", {}).items(), 32)
        mean_conf = sum(ep.data.get("conf_sum", 0.0) for ep in matched) / max(1, windows)
        alert.evidence["model"] = {
            "classes": top(classes, 5),
            "windows": windows,
            "mean_confidence": round(mean_conf, 3),
        }
        alert.confidence = max(alert.confidence, min(0.99, mean_conf))

    def standalone(self, final: bool) -> list[Alert]:
        """Model episodes no rule claimed (only with ``model.standalone``)."""
        if final:
            self.flush()
            self._keep(self.tracker.drain())
        done, self.closed = (self.closed, []) if final else self._ripe()
        if not self.cfg.standalone:
            return []
        return [a for ep in done if (a := self._alert(ep)) is not None]

    def _ripe(self) -> tuple[list[Episode], list[Episode]]:
        """Closed episodes old enough that no rule alert will claim them any more."""
        horizon = self.tracker.watermark - 10 * self.cfg.gap_s
        ripe = [ep for ep in self.closed if ep.last_ts < horizon]
        rest = [ep for ep in self.closed if ep.last_ts >= horizon]
        return ripe, rest

    def _alert(self, ep: Episode) -> Alert | None:
        if ep.data.get("claimed") or ep.counts.get("windows", 0) < self.cfg.min_windows:
            return None
        category, dst = ep.key
        windows = ep.counts["windows"]
        classes = top(ep.data.get("classes", {}), 5)
        sources = top(ep.sources, 10)
        mean_conf = ep.data.get("conf_sum", 0.0) / max(1, windows)
        return Alert(
            category=category,
            name=f"Traffic classified as {next(iter(classes))}",
            severity=Severity.MEDIUM,
            confidence=round(mean_conf, 3),
            ts_start=ep.first_ts,
            ts_end=ep.last_ts,
            src=next(iter(sources)) if len(sources) == 1 else None,
            dst=dst,
            targets={dst: windows},
            counts={"windows": windows},
            evidence={
                "summary": f"{windows} traffic windows to {dst} classified as attack "
                f"(mean confidence {mean_conf:.2f})",
                "model": {"classes": classes, "windows": windows},
                "top_sources": sources,
                "uids": [],
            },
            mitre=[],
            source="model",
        )
