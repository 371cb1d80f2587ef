"""Monitoring practice: traffic analysed recently, alerts looked at by a person."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Table, func, inspect, select
from sqlalchemy.sql import ColumnElement

from medsentry.compliance.evaluators import Context, Evidence, Status, evaluator
from medsentry.store.models.core import CaptureRun

DAY = 86_400.0
# Words a state column may use for "a person has looked at it".
HANDLED_STATES = ("acknowledged", "ack", "closed", "resolved", "false_positive", "dismissed")


class FreshnessParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pass_days: float = Field(7, gt=0)
    partial_days: float = Field(30, gt=0)


@evaluator("monitoring.recent_capture", FreshnessParams, "Network traffic is analysed regularly")
def recent_capture(ctx: Context, params: FreshnessParams) -> Evidence:
    eid = "monitoring.recent_capture"
    last = ctx.observations.last_capture_at
    if last is None:
        return Evidence(eid, Status.FAIL, "no capture has ever been analysed")
    age = max(0.0, (ctx.now - last) / DAY)
    status = (
        Status.PASS
        if age <= params.pass_days
        else Status.PARTIAL
        if age <= params.partial_days
        else Status.FAIL
    )
    return Evidence(
        eid,
        status,
        f"last traffic analysis {age:.1f} days ago",
        metrics={"days_since_last_capture": round(age, 2)},
    )


class AlertParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    grace_hours: float = Field(72, ge=0, description="alerts younger than this may wait")


def _alerts_table(ctx: Context) -> Table | None:
    bind = ctx.session.get_bind()
    if not inspect(bind).has_table("alerts"):
        return None
    return Table("alerts", __import__("sqlalchemy").MetaData(), autoload_with=bind)


def _handled(table: Table) -> ColumnElement[bool] | None:
    cols = table.c
    for name in ("acknowledged_at", "acked_at", "ack_at"):
        if name in cols:
            return cols[name].is_not(None)
    if "acknowledged" in cols:
        return cols["acknowledged"].is_(True)
    for name in ("status", "state"):
        if name in cols:
            return func.lower(cols[name]).in_(HANDLED_STATES)
    return None


@evaluator(
    "alerts.unacknowledged",
    AlertParams,
    "Security alerts are acknowledged by a person in time",
)
def unacknowledged(ctx: Context, params: AlertParams) -> Evidence:
    eid = "alerts.unacknowledged"
    table = _alerts_table(ctx)
    if table is None:
        return Evidence(eid, Status.NOT_ASSESSED, "alerts are not kept in this store")
    handled = _handled(table)
    if handled is None:
        return Evidence(eid, Status.NOT_ASSESSED, "the alerts table records no acknowledgement")
    time_col = next(
        (table.c[n] for n in ("ts_end", "ts_start", "ts", "created_at") if n in table.c), None
    )
    total = int(ctx.session.scalar(select(func.count()).select_from(table)) or 0)
    if total == 0:
        # No alerts proves nothing until some traffic has actually been watched.
        watched = inspect(ctx.session.get_bind()).has_table(CaptureRun.__tablename__)
        captures = (
            int(ctx.session.scalar(select(func.count()).select_from(CaptureRun)) or 0)
            if watched
            else 0
        )
        if captures == 0:
            return Evidence(eid, Status.NOT_ASSESSED, "no traffic analysed yet")
        return Evidence(
            eid,
            Status.PASS,
            f"no alerts raised in {captures} analysed capture(s)",
            metrics={"alerts": 0, "captures": captures},
        )
    overdue_where = [~handled]
    if time_col is not None:
        overdue_where.append(time_col < ctx.now - params.grace_hours * 3600)
    open_count = int(
        ctx.session.scalar(select(func.count()).select_from(table).where(~handled)) or 0
    )
    overdue = ctx.session.execute(select(table).where(*overdue_where).limit(200)).mappings().all()
    items = [
        " ".join(str(r[k]) for k in ("severity", "category", "name", "src") if r.get(k))
        for r in overdue
    ]
    metrics = {"alerts": total, "open": open_count, "overdue": len(overdue)}
    if overdue:
        return Evidence(
            eid,
            Status.FAIL,
            f"{len(overdue)} alert(s) unacknowledged for more than {params.grace_hours:g} hours",
            items=items,
            metrics=metrics,
        )
    if open_count:
        return Evidence(
            eid,
            Status.PARTIAL,
            f"{open_count} recent alert(s) not yet acknowledged",
            metrics=metrics,
        )
    return Evidence(eid, Status.PASS, f"all {total} alerts acknowledged", metrics=metrics)
