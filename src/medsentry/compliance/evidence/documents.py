"""Documents on file: plans, reports and policies a person attached as evidence."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from medsentry.compliance.evaluators import Context, Evidence, Status, evaluator
from medsentry.store.models.compliance import DocumentRow

DAY = 86_400.0


class DocumentParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kinds: tuple[str, ...] = Field(min_length=1, description="any of these kinds satisfies")
    max_age_days: float | None = Field(None, gt=0, description="older documents are stale")


@evaluator("documents.on_file", DocumentParams, "The required document is on file and current")
def on_file(ctx: Context, params: DocumentParams) -> Evidence:
    eid = "documents.on_file"
    rows = ctx.session.execute(
        select(DocumentRow.kind, DocumentRow.name, DocumentRow.at, DocumentRow.actor)
        .where(DocumentRow.kind.in_(params.kinds))
        .order_by(DocumentRow.at.desc())
    ).all()
    wanted = " or ".join(k.replace("_", " ") for k in params.kinds)
    if not rows:
        return Evidence(
            eid,
            Status.NOT_ASSESSED,
            f"no {wanted} on file (attach one with `medsentry compliance attest ... --document`)",
        )
    items = [f"{r.kind}: {r.name} (added by {r.actor})" for r in rows]
    newest_age = (ctx.now - rows[0].at) / DAY
    if params.max_age_days is not None and newest_age > params.max_age_days:
        return Evidence(
            eid,
            Status.PARTIAL,
            f"newest {wanted} is {newest_age:.0f} days old (review every "
            f"{params.max_age_days:g} days)",
            items=items,
            metrics={"documents": len(rows), "age_days": round(newest_age, 1)},
        )
    return Evidence(
        eid,
        Status.PASS,
        f"{len(rows)} {wanted} on file",
        items=items,
        metrics={"documents": len(rows), "age_days": round(newest_age, 1)},
    )
