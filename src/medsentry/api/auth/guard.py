"""Who is asking, and may they: the FastAPI dependencies every protected route uses.

A request is authenticated by an ``Authorization: Bearer mst_...`` token (scripts, SIEM)
or by the session cookie (browser). Session requests that change something must also
carry the session's CSRF token, in the ``X-CSRF-Token`` header or a ``csrf_token`` form
field; token requests need none, since browsers never attach them on their own.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.status import HTTP_403_FORBIDDEN

from medsentry.api.auth.roles import Role
from medsentry.api.auth.sessions import resolve_session
from medsentry.api.auth.tokens import resolve_token
from medsentry.store.db import Store

SESSION_COOKIE = "medsentry_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer_scheme = HTTPBearer(auto_error=False, description="An API token: `medsentry tokens create`")
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="The web dashboard's session cookie"
)


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    role: Role
    via: str  # "token" or "session"
    session_pk: int | None = None
    csrf_token: str | None = None


class NotAuthenticated(Exception):
    """No valid credentials; API routes answer 401 JSON, pages the sign-in form."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _store(request: Request) -> Store:
    store: Store = request.app.state.ctx.store
    return store


def _resolve(store: Store, bearer: str | None, cookie: str | None) -> Principal | None:
    if bearer is not None:
        owner = resolve_token(store, bearer)
        if owner is None:
            return None
        return Principal(owner.user_id, owner.username, owner.role, "token")
    if cookie:
        found = resolve_session(store, cookie)
        if found is None:
            return None
        return Principal(
            found.user_id,
            found.username,
            found.role,
            "session",
            found.session_pk,
            found.csrf_token,
        )
    return None


async def _csrf_ok(request: Request, expected: str) -> bool:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        kind = request.headers.get("content-type", "")
        if kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    return sent is not None and hmac.compare_digest(sent.encode(), expected.encode())


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Principal:
    """The authenticated principal, or 401 (403 on a session write without its CSRF token)."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    bearer = credentials.credentials if credentials is not None else None
    if bearer is None and request.headers.get("authorization"):
        raise NotAuthenticated("use `Authorization: Bearer <token>`")
    if bearer is None and not cookie:
        raise NotAuthenticated("sign in, or send an API token")
    principal = await run_in_threadpool(_resolve, _store(request), bearer, cookie)
    if principal is None:
        raise NotAuthenticated("the token or session is invalid, expired or revoked")
    request.state.principal = principal
    if (
        principal.via == "session"
        and request.method not in SAFE_METHODS
        and not await _csrf_ok(request, principal.csrf_token or "")
    ):
        raise HTTPException(HTTP_403_FORBIDDEN, "missing or wrong CSRF token; reload the page")
    return principal


class Require:
    """Dependency: an authenticated principal whose role is at least ``role``.

    The walk-every-route test reads ``role`` from each route's dependencies.
    """

    def __init__(self, role: Role) -> None:
        self.role = role

    async def __call__(self, principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.role.allows(self.role):
            raise HTTPException(
                HTTP_403_FORBIDDEN, f"this needs the {self.role.value} role or higher"
            )
        return principal


require_viewer = Require(Role.VIEWER)
require_analyst = Require(Role.ANALYST)
require_admin = Require(Role.ADMIN)
