"""Recalls: open FDA recalls that concern devices in the inventory."""

from __future__ import annotations

from sqlalchemy import func, select

from medsentry.compliance.evaluators import Context, Evidence, NoParams, Status, evaluator
from medsentry.compliance.recalls import recall_findings
from medsentry.store.models.compliance import RecallRow


@evaluator("recalls.open", NoParams, "No inventory device is under an open FDA recall")
def open_recalls(ctx: Context, _params: NoParams) -> Evidence:
    eid = "recalls.open"
    recalls = int(ctx.session.scalar(select(func.count()).select_from(RecallRow)) or 0)
    if recalls == 0:
        return Evidence(
            eid,
            Status.NOT_ASSESSED,
            "no openFDA recall data imported (`medsentry recalls import FILE|URL`)",
        )
    findings = recall_findings(ctx.session, state="open")
    if not findings:
        return Evidence(
            eid,
            Status.PASS,
            f"none of {recalls} imported recalls concerns an inventory device",
            metrics={"recalls": recalls, "open_findings": 0},
        )
    items = [
        f"{f.recall.recall_number} ({f.recall.classification or 'class n/a'}, "
        f"{f.recall.recalling_firm}) -> {f.device.label if f.device else f.device_id}: "
        f"{f.reason}"
        for f in findings
    ]
    strong = [f for f in findings if f.confidence >= 0.8]
    return Evidence(
        eid,
        Status.FAIL if strong else Status.PARTIAL,
        f"{len(findings)} open recall match(es) on {len({f.device_id for f in findings})} "
        f"device(s); {len(strong)} name the device's model",
        items=items,
        metrics={"recalls": recalls, "open_findings": len(findings), "model_matches": len(strong)},
    )
