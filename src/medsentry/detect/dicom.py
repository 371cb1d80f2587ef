"""DICOM bulk queries: many C-FIND/C-MOVE/C-GET from one application entity, or queries from
an AE title never seen before (after a learning period).

Mass querying or retrieving of studies is how patient data is harvested from a PACS. The
calling AE title comes from the association request of the same connection; where it was
not seen, the client's address stands in for it.
"""

from __future__ import annotations

from collections import OrderedDict

from medsentry.detect.base import Alert, BatchView, Category, Severity, endpoint, register
from medsentry.detect.config import DetectConfig, DicomConfig
from medsentry.detect.episodes import Episode, EpisodeDetector, add_counts, top

QUERIES = {"C-FIND-RQ": "find", "C-MOVE-RQ": "move", "C-GET-RQ": "get"}
MITRE = ["T1119", "T0802"]


@register("dicom")
class DicomDetector(EpisodeDetector):
    name = "dicom"

    def __init__(self, config: DetectConfig) -> None:
        self.cfg: DicomConfig = config.dicom
        super().__init__(self.cfg.gap_s)
        self.calling: OrderedDict[str, str] = OrderedDict()  # uid -> calling AE title
        self.known_aes: dict[str, float] = {}
        self.start: float | None = None

    def _feed(self, view: BatchView) -> list[Episode]:
        closed: list[Episode] = []
        for e in view.events:
            if e.protocol != "dicom":
                continue
            if self.start is None:
                self.start = e.ts
            if e.kind == "associate_rq":
                ae = str(e.fields.get("calling_ae") or "")
                if ae:
                    self.calling[e.uid] = ae
                    if len(self.calling) > 100_000:
                        self.calling.popitem(last=False)
                    if e.ts - self.start <= self.cfg.learning_s:
                        self.known_aes.setdefault(ae, e.ts)
                continue
            op = QUERIES.get(str(e.fields.get("command") or ""))
            if e.kind != "dimse" or op is None:
                continue
            ends = view.endpoints(e.uid)
            client = ends[0] if ends else "?"
            ae = self.calling.get(e.uid) or client
            ep, done = self.tracker.touch(("queries", ae), e.ts, e.ts)
            closed.extend(done)
            ep.add(op)
            ep.data.setdefault("client", client)
            ep.data["new_ae"] = ae not in self.known_aes and ae != client
            if ends:
                target = endpoint(ends[2], ends[3])
                add_counts(ep.targets, [(target, 1)], 64)
            sop = e.fields.get("affected_sop_class")
            if sop:
                add_counts(ep.data.setdefault("sop_classes", {}), [(str(sop), 1)], 16)
            ep.add_uids([e.uid])
        return closed

    def _alert(self, ep: Episode) -> Alert | None:
        _, ae = ep.key
        total = sum(ep.counts.get(op, 0) for op in QUERIES.values())
        new_ae = bool(ep.data.get("new_ae")) and self.start is not None
        learned = self.start is not None and ep.first_ts - self.start > self.cfg.learning_s
        bulk = total >= self.cfg.bulk_min_queries
        stranger = new_ae and learned and total >= self.cfg.new_ae_min_queries
        if not (bulk or stranger):
            return None
        ranked = top(ep.targets, 8)
        why = []
        if bulk:
            why.append(f"{total} queries/retrievals in {ep.duration:.0f} s")
        if stranger:
            why.append("from an AE title never seen before")
        return Alert(
            category=Category.DICOM_BULK_QUERY,
            name="DICOM bulk query" + (" from a new AE" if stranger else ""),
            severity=Severity.HIGH,
            confidence=0.85,
            ts_start=ep.first_ts,
            ts_end=ep.last_ts,
            src=ep.data.get("client"),
            dst=next(iter(ranked), None),
            targets=ranked,
            protocol="dicom",
            counts={op: ep.counts.get(op, 0) for op in QUERIES.values()} | {"total": total},
            evidence={
                "summary": f"AE {ae!r}: " + "; ".join(why),
                "calling_ae": ae,
                "sop_classes": top(ep.data.get("sop_classes", {}), 8),
                "uids": ep.uids,
            },
            mitre=MITRE,
        )
