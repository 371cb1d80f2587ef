"""One ASGI middleware around every request: security headers, metrics, audit entry.

Pure ASGI rather than ``BaseHTTPMiddleware``: it adds no task or stream copy per request,
which matters for the latency budget.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medsentry.api.auth.audit import AuditEntry
from medsentry.api.context import AppContext

# Pages and API answers may show what devices exist and who talked to whom: no caching,
# no framing, no third-party anything.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
]
NO_STORE = (b"cache-control", b"no-store")
UNAUDITED_ROUTES = {"/api/v1/health", "/api/v1/metrics", "/static"}


class RequestObserver:
    def __init__(self, app: ASGIApp, ctx: AppContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                if not static:
                    headers.append(NO_STORE)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self._after(scope, status, time.perf_counter() - started)

    def _after(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope["method"]
        self.ctx.metrics.observe(method, template, status, seconds)
        if template in UNAUDITED_ROUTES:
            return
        state: dict[str, Any] = scope.get("state") or {}
        principal = state.get("principal")
        action = state.get("audit_action")
        if principal is None and action is None and status not in (401, 403):
            return  # anonymous noise (unknown paths, the sign-in page itself)
        client = scope.get("client")
        self.ctx.audit.record(
            AuditEntry(
                actor=principal.username
                if principal is not None
                else state.get("audit_actor", "anonymous"),
                via=principal.via if principal is not None else "anonymous",
                action=action or ("view" if method in ("GET", "HEAD") else "change"),
                method=method,
                route=template,
                target=scope["path"],
                status=status,
                ip=client[0] if client else None,
                detail=state.get("audit_detail") or {},
            )
        )
