"""Dashboard pages. Every page but sign-in needs a session; changes need its CSRF token."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from medsentry.api import queries
from medsentry.api.auth import accounts
from medsentry.api.auth.guard import SESSION_COOKIE, Principal, require_viewer
from medsentry.api.auth.roles import Role
from medsentry.api.auth.sessions import ABSOLUTE_LIFETIME, create_session, end_session
from medsentry.api.context import AppContext
from medsentry.api.risk import OPEN_STATES, PRIORITIES, device_risk, risk_condition
from medsentry.api.routers.devices import device_detail
from medsentry.api.web.charts import Node, hbars, star_graph, time_bars
from medsentry.compliance.status import compliance_status
from medsentry.store import repository
from medsentry.store.alert_triage import ALERTS, SEVERITY_RANK, status_counts
from medsentry.vuln.findings import list_findings

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
LOGIN_COOKIE = "medsentry_login"
PAGE_ROWS = 50
OVERVIEW_TTL = 15.0

Viewer = Annotated[Principal, Depends(require_viewer)]


def _time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _size(n: int | None) -> str:
    value = float(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    return f"{value:,.1f} TB"


templates.env.filters["time"] = _time
templates.env.filters["size"] = _size


def ctx_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def clean(value: str | None) -> str | None:
    """A query value as typed, without NUL (PostgreSQL refuses it); None when empty."""
    return (value or "").replace("\x00", "").strip() or None


def pager(path: str, params: dict[str, str | None], offset: int, total: int) -> dict[str, Any]:
    """Links to the previous and next page of a list shown ``PAGE_ROWS`` at a time."""
    base = {k: v for k, v in params.items() if v}

    def link(at: int) -> str:
        return f"{path}?" + urlencode({**base, "offset": at})

    return {
        "prev_link": link(max(offset - PAGE_ROWS, 0)) if offset > 0 else None,
        "next_link": link(offset + PAGE_ROWS) if offset + PAGE_ROWS < total else None,
    }


def can_triage(principal: Principal | None) -> bool:
    return principal is not None and principal.role.allows(Role.ANALYST)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request, name: str, principal: Principal | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        {"user": principal, "csrf": principal.csrf_token if principal else None, **context},
        status_code=status_code,
    )


def _safe_next(target: str | None) -> str:
    # Only same-site paths: "//host" and "/\\host" would leave the site.
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target[:512]
    return "/"


def login_page(
    request: Request, status_code: int = 200, error: str | None = None, next_url: str | None = None
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    if next_url is None and request.method == "GET" and request.url.path != "/login":
        next_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = render(
        request,
        "login.html",
        None,
        status_code=status_code,
        login_csrf=token,
        error=error,
        next_url=_safe_next(next_url),
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=ctx_of(request).settings.secure_cookies,
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    return login_page(request, next_url=next)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=512)] = "/",
) -> Response:
    ctx = ctx_of(request)
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf_token.encode()):
        return login_page(request, 400, "Your sign-in form expired; please try again.", next)
    address = _client(request)
    wait = ctx.throttle.retry_after(username, address)
    if wait > 0:
        ctx.metrics.logins.labels("throttled").inc()
        request.state.audit_action = "login_throttled"
        request.state.audit_actor = username or "anonymous"
        throttled = login_page(
            request, 429, f"Too many failed attempts; try again in {int(wait) + 1} seconds.", next
        )
        throttled.headers["Retry-After"] = str(int(wait) + 1)
        return throttled
    user = None
    if "\x00" not in username:  # PostgreSQL refuses NUL in text; no user has one
        user = await run_in_threadpool(accounts.authenticate, ctx.store, username, password)
    if user is None:
        ctx.throttle.failed(username, address)
        ctx.metrics.logins.labels("failed").inc()
        request.state.audit_action = "login_failed"
        request.state.audit_actor = username or "anonymous"
        return login_page(request, 401, "Wrong user name or password.", next)
    ctx.throttle.succeeded(username)
    ctx.metrics.logins.labels("ok").inc()
    session_id, _csrf = await run_in_threadpool(create_session, ctx.store, user.id, address)
    request.state.audit_action = "login"
    request.state.audit_actor = user.username
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(ABSOLUTE_LIFETIME),
        httponly=True,
        samesite="strict",
        secure=ctx.settings.secure_cookies,
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, principal: Viewer) -> Response:
    if principal.session_pk is not None:
        end_session(ctx_of(request).store, principal.session_pk)
    request.state.audit_action = "logout"
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


_overview_cache: dict[int, tuple[float, dict[str, Any]]] = {}
SEVERITY_CLASSES = {name: f"sev-{name}" for name in SEVERITY_RANK}


def _most_severe_first(series: queries.Series) -> queries.Series:
    ordered = sorted(series.names, key=lambda name: -SEVERITY_RANK.get(name, -1))
    return replace(series, names=ordered)


def _overview_data(ctx: AppContext) -> dict[str, Any]:
    # The aggregates scan the big tables; a short cache keeps reloads cheap at 1M flows.
    key = id(ctx)
    hit = _overview_cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < OVERVIEW_TTL:
        return hit[1]
    store = ctx.store
    risks = ctx.risks.get()
    with store.session() as session:
        compliance = compliance_status(session)
        top_risks = list_findings(session, state=",".join(OPEN_STATES), limit=8)
    data = {
        "totals": queries.totals(store),
        "by_type": queries.devices_by_type(store),
        "by_risk": [
            (level, queries.count_devices(store, risk_condition(risks, level)))
            for level in PRIORITIES
        ],
        "activity": queries.timed_series(store, repository.EVENTS, repository.EVENTS.c.protocol),
        "alerts": _most_severe_first(
            queries.timed_series(store, ALERTS, ALERTS.c.severity, time_column="ts_start")
        ),
        "alert_counts": status_counts(store),
        "compliance": compliance,
        "top_risks": top_risks,
        "phi": queries.phi_conversations(store),
        "newest": repository.list_devices(store, sort="first_seen", desc=True, limit=8).rows,
    }
    _overview_cache[key] = (time.monotonic(), data)
    return data


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, principal: Viewer) -> Response:
    data = _overview_data(ctx_of(request))
    return render(
        request,
        "overview.html",
        principal,
        totals=data["totals"],
        by_type=hbars(data["by_type"], "Devices by type"),
        by_risk=hbars(
            [(level, n) for level, n in data["by_risk"] if n],
            "Devices by risk",
            empty="No device has an open finding.",
        ),
        activity=time_bars(data["activity"], "Protocol events over time"),
        alerts=time_bars(
            data["alerts"], "Alerts over time, by severity", height=170, classes=SEVERITY_CLASSES
        ),
        alert_counts=data["alert_counts"],
        compliance=data["compliance"],
        top_risks=data["top_risks"],
        phi=data["phi"],
        newest=data["newest"],
    )


@router.get("/devices", response_class=HTMLResponse)
def devices_page(
    request: Request,
    principal: Viewer,
    q: Annotated[str | None, Query(max_length=128)] = None,
    type: Annotated[str | None, Query(max_length=64)] = None,
    risk: Annotated[str | None, Query(max_length=8)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    query, kind = clean(q), clean(type)
    level = risk if risk in (*PRIORITIES, "any") else None
    ctx = ctx_of(request)
    risks = ctx.risks.get()
    lines, total = queries.device_lines(
        ctx.store,
        type=kind,
        search=query,
        limit=PAGE_ROWS,
        offset=offset,
        extra=[risk_condition(risks, level)] if level else (),
    )
    return render(
        request,
        "devices.html",
        principal,
        page=repository.Page(lines, total),
        risk_of={d.key: device_risk(risks, d.manufacturer, d.model) for d in lines},
        q=query or "",
        type=kind or "",
        risk=level or "",
        levels=PRIORITIES,
        offset=offset,
        **pager("/devices", {"q": query, "type": kind, "risk": level}, offset, total),
    )


@router.get("/devices/{key}", response_class=HTMLResponse)
def device_page(
    request: Request,
    key: str,
    principal: Viewer,
    flows_offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    store = ctx_of(request).store
    # PostgreSQL refuses NUL in text; such a key cannot exist anyway.
    device = None if "\x00" in key else repository.get_device(store, key)
    if device is None:
        return render(request, "missing.html", principal, status_code=404, what=f"device {key}")
    detail = device_detail(store, device)
    # The page's own lean queries: the device is known, so no lookup by key again, and
    # the protocol table already gives the span of the timeline.
    flows = queries.device_flow_page(store, device, limit=25, offset=flows_offset)
    events = queries.recent_device_events(store, device, limit=25)
    graph = star_graph(
        device.mac or device.key,
        [
            Node(p.ip, p.bytes, f"/devices/{p.device_key}" if p.device_key else None)
            for p in detail.peers
        ],
        "Communication peers",
    )
    if detail.protocols:
        span = (
            min(p.first_ts for p in detail.protocols),
            max(p.last_ts for p in detail.protocols),
        )
        series = queries.protocol_series(store, device, span=span)
    else:
        series = queries.Series(0.0, 1.0, [], {})
    timeline = time_bars(series, "Protocol messages over time", height=170)
    return render(
        request,
        "device.html",
        principal,
        d=detail,
        graph=graph,
        timeline=timeline,
        flows=flows,
        events=events,
        flows_offset=flows_offset,
    )


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, principal: Viewer) -> Response:
    ctx = ctx_of(request)
    return render(
        request,
        "upload.html",
        principal,
        jobs=ctx.jobs.recent()[:10],
        max_mib=ctx.settings.max_capture_bytes >> 20,
        max_doc_mib=ctx.settings.max_document_bytes >> 20,
    )


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_fragment(request: Request, job_id: str, principal: Viewer) -> Response:
    job = ctx_of(request).jobs.get(job_id)
    if job is None:
        return render(request, "missing.html", principal, status_code=404, what="job")
    response = render(request, "job.html", principal, job=job)
    if job.state in ("done", "failed"):
        response.status_code = 286  # tells htmx to stop polling
    return response
