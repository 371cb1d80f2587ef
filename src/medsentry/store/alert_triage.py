"""Alert triage: the queue (filtered, sorted, paged), one alert with its comments, and the
status changes analysts make (open -> acknowledged -> resolved, and back to acknowledged).

Status changes are single conditional UPDATEs, so two analysts clicking at once cannot
both acknowledge the same alert: the second learns who was first. Resolving an alert
that nobody acknowledged also records the acknowledgement (someone did look at it), which
is what the compliance evaluator ``alerts.unacknowledged`` reads.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    UnaryExpression,
    case,
    func,
    insert,
    select,
    update,
)

from medsentry.errors import InputError
from medsentry.store.alert_hosts import ALERT_HOSTS
from medsentry.store.db import Store
from medsentry.store.models.detect import AlertCommentRow, AlertRow

ALERTS = cast(Table, AlertRow.__table__)
COMMENTS = cast(Table, AlertCommentRow.__table__)
MAX_COMMENT = 4000
MAX_HOSTS = 32


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
_SEVERITY = case(SEVERITY_RANK, value=ALERTS.c.severity, else_=-1)
ALERT_SORTS: dict[str, ColumnElement[Any]] = {
    "ts_start": ALERTS.c.ts_start,
    "ts_end": ALERTS.c.ts_end,
    "severity": _SEVERITY,
    "category": ALERTS.c.category,
    "confidence": ALERTS.c.confidence,
    "status": ALERTS.c.status,
}


class UnknownAlertError(InputError):
    """No alert has this id (the API answers 404)."""


class AlertStateError(InputError):
    """The change does not apply to the alert's current status (the API answers 409)."""


@dataclass(frozen=True, slots=True)
class AlertComment:
    id: int
    author: str
    text: str
    ts: float


@dataclass(frozen=True, slots=True)
class AlertView:
    """One stored alert: the detector's JSON fields plus its triage state."""

    id: str
    capture_id: int | None
    ts_start: float
    ts_end: float
    category: str
    name: str
    severity: str
    confidence: float
    src: str | None
    dst: str | None
    protocol: str | None
    source: str
    targets: dict[str, Any]
    devices: list[str]
    counts: dict[str, Any]
    evidence: dict[str, Any]
    mitre: list[str]
    status: str
    acknowledged_by: str | None
    acknowledged_at: float | None
    resolved_by: str | None
    resolved_at: float | None

    @property
    def uids(self) -> list[str]:
        """Sample flow uids the detector kept as evidence."""
        return [str(u) for u in self.evidence.get("uids", [])]


_VIEW_COLUMNS = [c for c in AlertView.__slots__ if c != "id"]


def _view(row: Any) -> AlertView:
    values = {name: getattr(row, name) for name in _VIEW_COLUMNS}
    for name in ("targets", "counts", "evidence"):
        values[name] = dict(values[name] or {})
    for name in ("devices", "mitre"):
        values[name] = list(values[name] or [])
    return AlertView(id=row.alert_id, **values)


def mentions_hosts(hosts: Sequence[str]) -> ColumnElement[bool]:
    """Alerts whose source, main target, targets or devices name one of ``hosts`` (IPs,
    MACs or device keys), through the indexed ``alert_hosts`` links."""
    wanted = sorted({h for h in hosts if h})[:MAX_HOSTS]
    linked = select(ALERT_HOSTS.c.alert_id).where(ALERT_HOSTS.c.host.in_(wanted))
    return ALERTS.c.id.in_(linked)


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """What the queue shows; every field is optional. ``since``/``until`` select alerts
    active in that span (the episode overlaps it)."""

    category: str | None = None
    severity: str | None = None
    status: Sequence[str] = ()
    hosts: Sequence[str] | None = None  # a device's names (None: any; []: matches none)
    host: str | None = None  # one more address the alert must name
    source: str | None = None
    since: float | None = None
    until: float | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if self.category is not None:
            conds.append(ALERTS.c.category == self.category)
        if self.severity is not None:
            conds.append(ALERTS.c.severity == self.severity)
        if self.status:
            conds.append(ALERTS.c.status.in_(list(self.status)))
        if self.hosts is not None:
            conds.append(mentions_hosts(self.hosts))
        if self.host is not None:
            conds.append(mentions_hosts([self.host]))
        if self.source is not None:
            conds.append(ALERTS.c.source == self.source)
        if self.since is not None:
            conds.append(ALERTS.c.ts_end >= self.since)
        if self.until is not None:
            conds.append(ALERTS.c.ts_start < self.until)
        return conds


def alert_order(sort: str, desc: bool) -> list[UnaryExpression[Any]]:
    expr = ALERT_SORTS.get(sort)
    if expr is None:
        raise InputError(f"cannot sort alerts by {sort!r}; choose one of: {', '.join(ALERT_SORTS)}")
    if desc:
        return [expr.desc(), ALERTS.c.ts_start.desc(), ALERTS.c.id.desc()]
    return [expr.asc(), ALERTS.c.ts_start.asc(), ALERTS.c.id.asc()]


def list_alerts(
    store: Store,
    where: AlertFilter | None = None,
    sort: str = "ts_start",
    desc: bool = True,
    limit: int = 50,
    offset: int = 0,
    count: bool = True,
) -> tuple[list[AlertView], int]:
    """A page of alerts and how many match in all (``count=False``: how many are on the
    page, which saves a query where the total is not shown)."""
    conds = (where or AlertFilter()).conditions()
    order = alert_order(sort, desc)
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(ALERTS).where(*conds).order_by(*order).limit(limit).offset(offset)
        ).all()
        total = (
            conn.execute(select(func.count()).select_from(ALERTS).where(*conds)).scalar_one()
            if count
            else len(rows)
        )
    return [_view(r) for r in rows], int(total)


def get_alert(store: Store, alert_id: str) -> AlertView:
    with store.engine.connect() as conn:
        row = conn.execute(select(ALERTS).where(ALERTS.c.alert_id == alert_id)).first()
    if row is None:
        raise UnknownAlertError(f"no alert {alert_id!r}; list alerts with GET /api/v1/alerts")
    return _view(row)


def _pk(store: Store, alert_id: str) -> int:
    with store.engine.connect() as conn:
        pk = conn.execute(select(ALERTS.c.id).where(ALERTS.c.alert_id == alert_id)).scalar()
    if pk is None:
        raise UnknownAlertError(f"no alert {alert_id!r}; list alerts with GET /api/v1/alerts")
    return int(pk)


def comments(store: Store, alert_id: str) -> list[AlertComment]:
    """The alert's comments, oldest first."""
    pk = _pk(store, alert_id)
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(COMMENTS).where(COMMENTS.c.alert_id == pk).order_by(COMMENTS.c.id)
        ).all()
    return [AlertComment(r.id, r.author, r.text, r.ts) for r in rows]


def _clean_comment(text: str) -> str:
    cleaned = text.replace("\x00", "").strip()
    if not cleaned:
        raise InputError("a comment needs some text")
    if len(cleaned) > MAX_COMMENT:
        raise InputError(f"a comment is at most {MAX_COMMENT} characters")
    return cleaned


def add_comment(
    store: Store, alert_id: str, author: str, text: str, now: float | None = None
) -> AlertComment:
    cleaned = _clean_comment(text)
    pk = _pk(store, alert_id)
    at = now if now is not None else time.time()
    with store.engine.begin() as conn:
        new_id = conn.execute(
            insert(COMMENTS)
            .values(alert_id=pk, author=author[:64], text=cleaned, ts=at)
            .returning(COMMENTS.c.id)
        ).scalar_one()
    return AlertComment(int(new_id), author[:64], cleaned, at)


# From which statuses each change applies, and what it writes.
_ALLOWED_FROM = {
    "acknowledge": (AlertStatus.OPEN,),
    "resolve": (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED),
    "reopen": (AlertStatus.RESOLVED,),
}


def _values(change: str, actor: str, at: float) -> dict[str, Any]:
    who = actor[:64]
    if change == "acknowledge":
        return {
            "status": AlertStatus.ACKNOWLEDGED.value,
            "acknowledged_by": who,
            "acknowledged_at": at,
        }
    if change == "resolve":
        return {
            "status": AlertStatus.RESOLVED.value,
            "resolved_by": who,
            "resolved_at": at,
            # Keep the first acknowledgement; record one if nobody had acknowledged.
            "acknowledged_by": func.coalesce(ALERTS.c.acknowledged_by, who),
            "acknowledged_at": func.coalesce(ALERTS.c.acknowledged_at, at),
        }
    return {"status": AlertStatus.ACKNOWLEDGED.value, "resolved_by": None, "resolved_at": None}


def change_status(
    store: Store,
    alert_id: str,
    change: str,
    actor: str,
    note: str | None = None,
    now: float | None = None,
) -> AlertView:
    """Apply ``change`` (acknowledge, resolve, reopen) by ``actor``, with an optional note
    kept as a comment. Raises :class:`AlertStateError` if the status does not allow it."""
    allowed = _ALLOWED_FROM.get(change)
    if allowed is None:
        raise InputError(f"unknown change {change!r}; use acknowledge, resolve or reopen")
    cleaned = _clean_comment(note) if note and note.strip() else None
    at = now if now is not None else time.time()
    with store.engine.begin() as conn:
        done = conn.execute(
            update(ALERTS)
            .where(ALERTS.c.alert_id == alert_id, ALERTS.c.status.in_([s.value for s in allowed]))
            .values(**_values(change, actor, at))
        ).rowcount
        if done and cleaned is not None:
            pk = conn.execute(select(ALERTS.c.id).where(ALERTS.c.alert_id == alert_id)).scalar_one()
            conn.execute(
                insert(COMMENTS).values(alert_id=pk, author=actor[:64], text=cleaned, ts=at)
            )
    view = get_alert(store, alert_id)
    if not done:
        raise AlertStateError(_refusal(change, view))
    return view


def _refusal(change: str, view: AlertView) -> str:
    if view.status == AlertStatus.RESOLVED:
        return f"alert {view.id} was already resolved by {view.resolved_by}; reopen it first"
    if change == "acknowledge":
        return f"alert {view.id} was already acknowledged by {view.acknowledged_by}"
    return f"alert {view.id} is {view.status}, not resolved; there is nothing to reopen"


def status_counts(store: Store) -> dict[str, int]:
    """How many alerts are open, acknowledged and resolved."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(ALERTS.c.status, func.count()).group_by(ALERTS.c.status)).all()
    counts = {s.value: 0 for s in AlertStatus}
    for status, n in rows:
        counts[str(status)] = int(n)
    return counts
