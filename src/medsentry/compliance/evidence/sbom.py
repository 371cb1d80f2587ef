"""SBOMs: present, complete by the NTIA minimum elements, carrying FDA's support fields;
and VEX: the triage decisions published for the product's findings."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from medsentry.compliance.evaluators import Context, Evidence, NoParams, Status, evaluator
from medsentry.compliance.evidence.vulnerabilities import finding_facts
from medsentry.store.models.compliance import DocumentRow
from medsentry.store.models.vuln import SbomRow


def norm_name(text: str | None) -> str:
    """Lower-case letters and digits only: 'IntelliVue MX-450' ~ 'intellivue mx450'."""
    return re.sub(r"[^a-z0-9]", "", (text or "").lower())


def ntia_state(quality: dict[str, Any]) -> tuple[bool | None, list[str]]:
    """(conformant or None when never graded, names of missing elements)."""
    checks = quality.get("ntia") or []
    missing = [c.get("title") or c.get("id", "?") for c in checks if not c.get("passed")]
    if "ntia_conformant" in quality:
        return bool(quality["ntia_conformant"]), missing
    if checks:
        return not missing, missing
    return None, []


def _label(row: SbomRow) -> str:
    product = " ".join(p for p in (row.manufacturer, row.model or row.name) if p) or "SBOM"
    version = f" {row.product_version}" if row.product_version else ""
    return f"{product}{version} ({row.format} {row.spec_version}, {row.component_count} components)"


class SbomParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Hospitals: every identified medical device model should have an SBOM on file.
    per_device_model: bool = False


@evaluator("sbom.present", SbomParams, "SBOMs are on file and meet the NTIA minimum elements")
def sbom_present(ctx: Context, params: SbomParams) -> Evidence:
    eid = "sbom.present"
    rows = list(ctx.session.scalars(select(SbomRow).order_by(SbomRow.id)))
    if params.per_device_model:
        return _per_model(ctx, rows)
    if not rows:
        return Evidence(eid, Status.FAIL, "no SBOM in the store: import the product's SBOM")
    items, complete, ungraded = [], 0, 0
    for row in rows:
        ok, missing = ntia_state(row.quality or {})
        if ok is None:
            ungraded += 1
            items.append(f"{_label(row)}: not graded")
        elif ok:
            complete += 1
            items.append(f"{_label(row)}: NTIA minimum elements complete")
        else:
            items.append(f"{_label(row)}: missing {', '.join(missing)}")
    status = (
        Status.PASS
        if complete == len(rows)
        else Status.FAIL
        if complete == 0 and ungraded == 0
        else Status.PARTIAL
    )
    return Evidence(
        eid,
        status,
        f"{len(rows)} SBOM(s); {complete} meet the NTIA minimum elements",
        items=items,
        metrics={"sboms": len(rows), "ntia_complete": complete, "ungraded": ungraded},
    )


def _per_model(ctx: Context, rows: list[SbomRow]) -> Evidence:
    eid = "sbom.present"
    models = {
        (norm_name(d.manufacturer), norm_name(d.model)): d
        for d in ctx.observations.devices
        if d.medical and d.model
    }
    if not models:
        return Evidence(
            eid,
            Status.NOT_ASSESSED,
            "no medical device model identified in the inventory yet",
        )
    on_file = {(norm_name(r.manufacturer), norm_name(r.model)) for r in rows}
    on_file |= {("", m) for _, m in on_file}
    missing = [d for key, d in models.items() if key not in on_file and ("", key[1]) not in on_file]
    have = len(models) - len(missing)
    status = Status.PASS if not missing else Status.PARTIAL if have else Status.FAIL
    return Evidence(
        eid,
        status,
        f"SBOMs on file for {have} of {len(models)} medical device models",
        items=[f"no SBOM for {d.manufacturer or ''} {d.model} (e.g. {d.label})" for d in missing],
        metrics={"models": len(models), "with_sbom": have},
    )


@evaluator(
    "sbom.fda_support_fields",
    NoParams,
    "Each SBOM component states its level of support and end-of-support date",
)
def fda_support_fields(ctx: Context, _params: NoParams) -> Evidence:
    eid = "sbom.fda_support_fields"
    rows = list(ctx.session.scalars(select(SbomRow).order_by(SbomRow.id)))
    if not rows:
        return Evidence(eid, Status.NOT_ASSESSED, "no SBOM in the store")
    items, complete = [], 0
    for row in rows:
        checks = {c.get("id"): c for c in (row.quality or {}).get("fda") or []}
        gaps = [
            f"{c.get('missing_count', len(c.get('missing', [])))} components lack {c.get('title')}"
            for key in ("support_level", "end_of_support")
            if (c := checks.get(key)) is not None and not c.get("passed")
        ]
        if not checks:
            items.append(f"{_label(row)}: not graded")
        elif gaps:
            items.append(f"{_label(row)}: " + "; ".join(gaps))
        else:
            complete += 1
            items.append(f"{_label(row)}: support level and end of support for every component")
    status = Status.PASS if complete == len(rows) else Status.PARTIAL if complete else Status.FAIL
    return Evidence(
        eid,
        status,
        f"{complete} of {len(rows)} SBOM(s) give support level and end-of-support per component",
        items=items,
        metrics={"sboms": len(rows), "complete": complete},
    )


@evaluator("vex.published", NoParams, "A VEX document states the status of every finding")
def vex_published(ctx: Context, _params: NoParams) -> Evidence:
    eid = "vex.published"
    facts = finding_facts(ctx.session)
    docs = ctx.session.execute(
        select(DocumentRow.name, DocumentRow.at).where(DocumentRow.kind == "vex")
    ).all()
    latest = max((at for _, at in docs), default=None)
    pending = facts.by_state.get("under_investigation", 0)
    metrics = {"vex_documents": len(docs), "findings": facts.total, "undecided": pending}
    if facts.total == 0 and not docs:
        if facts.sboms == 0:
            return Evidence(eid, Status.NOT_ASSESSED, "no SBOM or findings in the store")
        return Evidence(
            eid,
            Status.PASS,
            "no findings, so nothing to state in a VEX yet",
            metrics=metrics,
        )
    items = [f"VEX document on file: {name}" for name, _ in docs]
    if not docs:
        return Evidence(
            eid,
            Status.FAIL,
            f"no VEX document published for {facts.total} findings "
            "(export one and attach it with `medsentry compliance publish vex FILE`)",
            metrics=metrics,
        )
    stale = int(
        ctx.session.scalar(
            select(func.count()).select_from(
                select(SbomRow.id).where(SbomRow.imported_at > (latest or 0)).subquery()
            )
        )
        or 0
    )
    if pending or stale:
        reason = []
        if pending:
            reason.append(f"{pending} findings still under investigation")
        if stale:
            reason.append(f"{stale} SBOM(s) imported after the last VEX")
        return Evidence(
            eid,
            Status.PARTIAL,
            f"{len(docs)} VEX document(s) on file, but " + " and ".join(reason),
            items=items,
            metrics=metrics,
        )
    return Evidence(
        eid,
        Status.PASS,
        f"{len(docs)} VEX document(s) on file and every finding has a decision",
        items=items,
        metrics=metrics,
    )
