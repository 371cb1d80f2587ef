"""Accounts: who am I, users (admin), API tokens, and the audit log (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from medsentry.api.auth import accounts, tokens
from medsentry.api.auth.audit import list_audit
from medsentry.api.auth.guard import Principal, require_admin, require_viewer
from medsentry.api.auth.roles import Role
from medsentry.api.paging import Window, paged, window
from medsentry.api.routers import API_PREFIX
from medsentry.api.routers.captures import ctx_of
from medsentry.api.schemas import (
    AuditOut,
    Me,
    Page,
    Text,
    Timestamp,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserChange,
    UserCreate,
    UserOut,
)

router = APIRouter(prefix=API_PREFIX, tags=["accounts"], dependencies=[Depends(require_viewer)])
Viewer = Annotated[Principal, Depends(require_viewer)]
Username = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")]


def user_out(user: accounts.User) -> UserOut:
    return UserOut(
        username=user.username,
        role=user.role.value,
        disabled=user.disabled,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


def token_out(info: tokens.TokenInfo) -> TokenOut:
    return TokenOut(
        id=info.id,
        token_id=info.token_id,
        username=info.username,
        name=info.name,
        created_at=info.created_at,
        expires_at=info.expires_at,
        last_used_at=info.last_used_at,
        revoked_at=info.revoked_at,
    )


@router.get("/me", response_model=Me, summary="The signed-in user or token owner")
def me(principal: Viewer) -> Me:
    return Me(username=principal.username, role=principal.role.value, via=principal.via)  # type: ignore[arg-type]


@router.get(
    "/users",
    response_model=list[UserOut],
    dependencies=[Depends(require_admin)],
    summary="All user accounts",
)
def list_users(request: Request) -> list[UserOut]:
    return [user_out(u) for u in accounts.list_users(ctx_of(request).store)]


@router.post(
    "/users",
    response_model=UserOut,
    status_code=201,
    dependencies=[Depends(require_admin)],
    summary="Create a user",
)
def create_user(request: Request, body: UserCreate) -> UserOut:
    user = accounts.create_user(
        ctx_of(request).store, body.username, body.password, Role(body.role)
    )
    request.state.audit_detail = {"user": user.username, "role": user.role.value}
    return user_out(user)


@router.patch(
    "/users/{username}", response_model=UserOut, summary="Change a user's role, password or state"
)
def change_user(
    request: Request,
    username: Username,
    body: UserChange,
    principal: Annotated[Principal, Depends(require_admin)],
) -> UserOut:
    if username == principal.username and (body.disabled or body.role not in (None, "admin")):
        raise HTTPException(409, "you cannot disable or demote yourself; ask another admin")
    user = accounts.update_user(
        ctx_of(request).store,
        username,
        role=None if body.role is None else Role(body.role),
        disabled=body.disabled,
        password=body.password,
    )
    request.state.audit_detail = {
        "user": username,
        "changed": sorted(k for k, v in body.model_dump().items() if v is not None),
    }
    return user_out(user)


def _visible_token(request: Request, principal: Principal, pk: int) -> tokens.TokenInfo:
    info = tokens.get_token(ctx_of(request).store, pk)
    # Someone else's token is reported missing, not forbidden, to non-admins.
    if info is None or (info.username != principal.username and principal.role != Role.ADMIN):
        raise HTTPException(404, f"no token {pk}")
    return info


@router.get("/tokens", response_model=list[TokenOut], summary="API tokens (yours; admins: all)")
def list_tokens(request: Request, principal: Viewer) -> list[TokenOut]:
    owner = None if principal.role == Role.ADMIN else principal.username
    return [token_out(t) for t in tokens.list_tokens(ctx_of(request).store, owner)]


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=201,
    summary="Create an API token for yourself",
)
def create_token(request: Request, body: TokenCreate, principal: Viewer) -> TokenCreated:
    secret, info = tokens.create_token(
        ctx_of(request).store, principal.username, body.name, body.expires_in_days
    )
    request.state.audit_detail = {"token": info.id, "name": info.name}
    return TokenCreated(**token_out(info).model_dump(), token=secret)


@router.delete("/tokens/{token_pk}", response_model=TokenOut, summary="Revoke an API token")
def revoke_token(
    request: Request,
    token_pk: Annotated[int, Path(ge=1, le=2**31 - 1)],
    principal: Viewer,
) -> TokenOut:
    _visible_token(request, principal, token_pk)
    info = tokens.revoke_token(ctx_of(request).store, token_pk)
    request.state.audit_detail = {"token": info.id, "owner": info.username}
    return token_out(info)


@router.get(
    "/audit",
    response_model=Page[AuditOut],
    dependencies=[Depends(require_admin)],
    summary="The audit log, newest first",
)
def audit_log(
    request: Request,
    w: Annotated[Window, Depends(window)],
    actor: Annotated[Text | None, Query(max_length=64)] = None,
    action: Annotated[Text | None, Query(max_length=32)] = None,
    since: Annotated[Timestamp | None, Query()] = None,
    until: Annotated[Timestamp | None, Query()] = None,
) -> Page[AuditOut]:
    ctx = ctx_of(request)
    ctx.audit.flush()
    records, total = list_audit(
        ctx.store,
        actor=actor,
        action=action,
        since=since,
        until=until,
        limit=w.limit,
        offset=w.offset,
    )
    return paged([AuditOut.model_validate(r, from_attributes=True) for r in records], total, w)
