"""Alert pages: the triage queue with each alert's evidence, one alert in full with its
comments, and the acknowledge / resolve / reopen / comment actions (htmx fragments, or a
redirect back when the browser posts a plain form)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from medsentry.api import queries
from medsentry.api.auth.guard import Principal, require_analyst
from medsentry.api.routers.devices import device_hosts
from medsentry.api.web.routes import (
    PAGE_ROWS,
    Viewer,
    can_triage,
    clean,
    ctx_of,
    is_htmx,
    pager,
    render,
)
from medsentry.detect.base import Category, Severity
from medsentry.errors import InputError
from medsentry.store import alert_triage as triage
from medsentry.store import repository
from medsentry.store.alert_hosts import alert_hosts
from medsentry.store.alert_triage import (
    AlertFilter,
    AlertStateError,
    AlertStatus,
    AlertView,
    UnknownAlertError,
)

router = APIRouter(include_in_schema=False)
Analyst = Annotated[Principal, Depends(require_analyst)]
AlertId = Annotated[str, Path(pattern=r"^[0-9a-f]{1,40}$")]
# The queue's status choices: a status, everything not yet resolved, or all.
STATUS_CHOICES = {
    "unresolved": (AlertStatus.OPEN.value, AlertStatus.ACKNOWLEDGED.value),
    **{s.value: (s.value,) for s in AlertStatus},
    "all": (),
}
MAX_SHOWN = 400


def describe(value: Any, limit: int = 240) -> str:
    """A short, readable text for an evidence value (nested data as compact JSON)."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        text = ", ".join(str(v) for v in value)
    else:
        text = json.dumps(value, separators=(", ", ": "), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def evidence_lines(alert: AlertView) -> list[tuple[str, str]]:
    """The evidence other than its summary and flow uids (shown on their own)."""
    return [(k, describe(v)) for k, v in alert.evidence.items() if k not in ("summary", "uids")]


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    principal: Viewer,
    status: Annotated[str, Query(max_length=16)] = "unresolved",
    category: Annotated[str | None, Query(max_length=32)] = None,
    severity: Annotated[str | None, Query(max_length=16)] = None,
    device: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    store = ctx_of(request).store
    shown = status if status in STATUS_CHOICES else "unresolved"
    kind = _choice(category, tuple(Category))
    level = _choice(severity, tuple(Severity))
    key = clean(device)
    found = repository.get_device(store, key) if key else None
    where = AlertFilter(
        category=kind,
        severity=level,
        status=STATUS_CHOICES[shown],
        hosts=device_hosts(found) if found else ([] if key else None),
    )
    alerts, total = triage.list_alerts(
        store, where, sort="severity", desc=True, limit=PAGE_ROWS, offset=offset
    )
    params = {"status": shown, "category": kind, "severity": level, "device": key}
    return render(
        request,
        "alerts.html",
        principal,
        alerts=alerts,
        total=total,
        counts=triage.status_counts(store),
        can_triage=can_triage(principal),
        status=shown,
        statuses=list(STATUS_CHOICES),
        category=kind or "",
        categories=[c.value for c in Category],
        severity=level or "",
        severities=[s.value for s in Severity],
        device=key or "",
        offset=offset,
        **pager("/alerts", params, offset, total),
    )


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: AlertId, principal: Viewer) -> Response:
    store = ctx_of(request).store
    try:
        alert = triage.get_alert(store, alert_id)
    except UnknownAlertError:
        return render(request, "missing.html", principal, status_code=404, what="alert")
    hosts = sorted(alert_hosts(alert.src, alert.dst, alert.targets, alert.devices))[:MAX_SHOWN]
    return render(
        request,
        "alert.html",
        principal,
        a=alert,
        evidence=evidence_lines(alert),
        targets=sorted(alert.targets.items(), key=lambda kv: -_count(kv[1]))[:100],
        known=queries.peer_keys(store, hosts),
        comments=triage.comments(store, alert_id),
        can_triage=can_triage(principal),
    )


def _count(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _back(request: Request, alert_id: str) -> Response:
    """Where a plain (script-less) form post returns: the page it came from."""
    referer = request.headers.get("referer", "")
    path = "/" + referer.split("://", 1)[-1].split("/", 1)[-1] if "://" in referer else ""
    target = path if path.startswith(("/alerts", "/devices/")) else f"/alerts/{alert_id}"
    return RedirectResponse(target, status_code=303)


async def _change(
    request: Request, alert_id: str, change: str, principal: Principal, note: str
) -> Response:
    store = ctx_of(request).store
    error = None
    try:
        alert = await run_in_threadpool(
            triage.change_status, store, alert_id, change, principal.username, note or None
        )
        request.state.audit_action = f"alert_{change}"
        request.state.audit_detail = {"alert": alert_id, "status": alert.status, "via": "web"}
    except AlertStateError as exc:
        error = str(exc)
        alert = triage.get_alert(store, alert_id)
    except UnknownAlertError:
        return render(request, "missing.html", principal, status_code=404, what="alert")
    except InputError as exc:  # a note too long
        error = str(exc)
        alert = triage.get_alert(store, alert_id)
    if not is_htmx(request):
        return _back(request, alert_id)
    return render(request, "alert_actions.html", principal, a=alert, can_triage=True, error=error)


Note = Annotated[str, Form(max_length=4000)]


def _change_route(change: str) -> None:
    """``POST /alerts/{alert_id}/<change>`` from the queue or the alert page."""

    async def route(
        request: Request, alert_id: AlertId, principal: Analyst, note: Note = ""
    ) -> Response:
        return await _change(request, alert_id, change, principal, note)

    router.post(
        f"/alerts/{{alert_id}}/{change}", response_class=HTMLResponse, name=f"{change}_page"
    )(route)


for _change_name in ("acknowledge", "resolve", "reopen"):
    _change_route(_change_name)


@router.post("/alerts/{alert_id}/comments", response_class=HTMLResponse)
async def comment_alert(
    request: Request,
    alert_id: AlertId,
    principal: Analyst,
    text: Note = "",
) -> Response:
    store = ctx_of(request).store
    error = None
    try:
        comment = await run_in_threadpool(
            triage.add_comment, store, alert_id, principal.username, text
        )
        request.state.audit_action = "alert_comment"
        request.state.audit_detail = {"alert": alert_id, "comment": comment.id, "via": "web"}
    except UnknownAlertError:
        return render(request, "missing.html", principal, status_code=404, what="alert")
    except InputError as exc:
        error = str(exc)
    if not is_htmx(request):
        return _back(request, alert_id)
    a = triage.get_alert(store, alert_id)
    return render(
        request,
        "alert_comments.html",
        principal,
        a=a,
        comments=triage.comments(store, alert_id),
        can_triage=True,
        error=error,
    )
