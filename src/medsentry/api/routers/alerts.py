"""Alerts: the triage queue, one alert with its evidence and comments, and the changes
analysts make (acknowledge, resolve, reopen, comment); each change is audited."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from medsentry.api.auth.guard import Principal, require_analyst, require_viewer
from medsentry.api.paging import Window, paged, window
from medsentry.api.routers import API_PREFIX
from medsentry.api.routers.devices import device_hosts, find_device, store_of
from medsentry.api.schemas import (
    AlertCommentOut,
    AlertDetail,
    AlertNote,
    AlertOut,
    CommentIn,
    Page,
    Text,
    Timestamp,
)
from medsentry.detect.base import Category, Severity
from medsentry.store import alert_triage as triage
from medsentry.store.alert_triage import AlertFilter, AlertStatus, AlertView

router = APIRouter(prefix=API_PREFIX, tags=["alerts"], dependencies=[Depends(require_viewer)])

AlertSort = Literal["ts_start", "ts_end", "severity", "category", "confidence", "status"]
AlertId = Annotated[
    str, Path(pattern=r"^[0-9a-f]{1,40}$", description="The alert's id (as in alerts.jsonl)")
]
Analyst = Annotated[Principal, Depends(require_analyst)]
Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: {"description": "No such alert"}}
CONFLICT: Responses = {**NOT_FOUND, 409: {"description": "The alert's status does not allow this"}}


def alert_out(view: AlertView) -> AlertOut:
    return AlertOut.model_validate(view, from_attributes=True)


@router.get("/alerts", response_model=Page[AlertOut], summary="The alert triage queue")
def list_alerts(
    request: Request,
    w: Annotated[Window, Depends(window)],
    category: Annotated[Category | None, Query()] = None,
    severity: Annotated[Severity | None, Query()] = None,
    status: Annotated[
        list[AlertStatus] | None, Query(description="One or more statuses (repeat the parameter)")
    ] = None,
    device: Annotated[Text | None, Query(max_length=64, description="Device key")] = None,
    host: Annotated[
        Text | None, Query(max_length=64, description="An IP or MAC the alert names")
    ] = None,
    source: Annotated[Literal["rule", "model"] | None, Query()] = None,
    since: Annotated[Timestamp | None, Query(description="Active from this time (epoch s)")] = None,
    until: Annotated[Timestamp | None, Query(description="Active before this time")] = None,
    sort: AlertSort = "ts_start",
) -> Page[AlertOut]:
    store = store_of(request)
    hosts = None if device is None else device_hosts(find_device(store, device))
    where = AlertFilter(
        category=None if category is None else category.value,
        severity=None if severity is None else severity.value,
        status=[s.value for s in status or ()],
        hosts=hosts,
        host=host,
        source=source,
        since=since,
        until=until,
    )
    views, total = triage.list_alerts(store, where, sort, w.desc, w.limit, w.offset)
    return paged([alert_out(v) for v in views], total, w)


@router.get(
    "/alerts/{alert_id}",
    response_model=AlertDetail,
    responses=NOT_FOUND,
    summary="One alert with its evidence and comments",
)
def get_alert(request: Request, alert_id: AlertId) -> AlertDetail:
    store = store_of(request)
    view = triage.get_alert(store, alert_id)
    notes = [
        AlertCommentOut.model_validate(c, from_attributes=True)
        for c in triage.comments(store, alert_id)
    ]
    return AlertDetail(**alert_out(view).model_dump(), comments=notes)


async def _change(
    request: Request, alert_id: str, change: str, principal: Principal, note: str | None
) -> AlertOut:
    view = await run_in_threadpool(
        triage.change_status, store_of(request), alert_id, change, principal.username, note
    )
    request.state.audit_action = f"alert_{change}"
    request.state.audit_detail = {"alert": alert_id, "status": view.status, "noted": bool(note)}
    return alert_out(view)


NoteBody = Annotated[AlertNote | None, Body()]


def _change_route(change: str, summary: str) -> None:
    """``POST /alerts/{alert_id}/<change>`` with an optional note."""

    async def route(
        request: Request, alert_id: AlertId, principal: Analyst, body: NoteBody = None
    ) -> AlertOut:
        return await _change(request, alert_id, change, principal, body.note if body else None)

    router.post(
        f"/alerts/{{alert_id}}/{change}",
        response_model=AlertOut,
        responses=CONFLICT,
        summary=summary,
        name=f"{change}_alert",
    )(route)


for _change_name, _summary in (
    ("acknowledge", "Acknowledge an open alert"),
    ("resolve", "Resolve an alert (acknowledging it too if nobody had)"),
    ("reopen", "Reopen a resolved alert (it stays acknowledged)"),
):
    _change_route(_change_name, _summary)


@router.get(
    "/alerts/{alert_id}/comments",
    response_model=list[AlertCommentOut],
    responses=NOT_FOUND,
    summary="An alert's comments, oldest first",
)
def list_comments(request: Request, alert_id: AlertId) -> list[AlertCommentOut]:
    return [
        AlertCommentOut.model_validate(c, from_attributes=True)
        for c in triage.comments(store_of(request), alert_id)
    ]


@router.post(
    "/alerts/{alert_id}/comments",
    response_model=AlertCommentOut,
    status_code=201,
    responses={**NOT_FOUND, 400: {"description": "Empty comment"}},
    summary="Comment on an alert",
)
def add_comment(
    request: Request, alert_id: AlertId, body: CommentIn, principal: Analyst
) -> AlertCommentOut:
    comment = triage.add_comment(store_of(request), alert_id, principal.username, body.text)
    request.state.audit_action = "alert_comment"
    request.state.audit_detail = {"alert": alert_id, "comment": comment.id}
    return AlertCommentOut.model_validate(comment, from_attributes=True)
