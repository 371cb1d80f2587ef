"""API tokens: ``mst_<id>_<secret>``, shown once, stored as a SHA-256 digest, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select

from medsentry.api.auth.accounts import UnknownUserError
from medsentry.api.auth.roles import Role
from medsentry.errors import InputError
from medsentry.store.db import Store
from medsentry.store.models.auth import ApiTokenRow, UserRow

PREFIX = "mst_"
# last_used_at is written at most this often, so reads do not turn into writes.
TOUCH_INTERVAL = 60.0


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    token_id: str
    username: str
    name: str
    created_at: float
    expires_at: float | None
    last_used_at: float | None
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """Who a valid token speaks for."""

    token_pk: int
    user_id: int
    username: str
    role: Role


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(row: ApiTokenRow, username: str) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        token_id=row.token_id,
        username=username,
        name=row.name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def create_token(
    store: Store, username: str, name: str, expires_in_days: float | None = None
) -> tuple[str, TokenInfo]:
    """A new token for ``username``: returns the full token (shown once) and its record."""
    name = name.strip()
    if not name or len(name) > 128:
        raise InputError("give the token a name of 1-128 characters (what it is for)")
    if expires_in_days is not None and not 0 < expires_in_days <= 3650:
        raise InputError("a token expires after 1 day to 10 years; omit the expiry for none")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    now = time.time()
    with store.session() as session:
        user = session.scalars(select(UserRow).where(UserRow.username == username)).first()
        if user is None:
            raise UnknownUserError(username)
        if user.disabled:
            raise InputError(f"user {username!r} is disabled; enable them before issuing tokens")
        row = ApiTokenRow(
            token_id=token_id,
            secret_hash=digest(secret),
            user_id=user.id,
            name=name,
            created_at=now,
            expires_at=None if expires_in_days is None else now + expires_in_days * 86400,
        )
        session.add(row)
        session.flush()
        return f"{PREFIX}{token_id}_{secret}", _info(row, username)


def list_tokens(store: Store, username: str | None = None) -> list[TokenInfo]:
    with store.session() as session:
        query = select(ApiTokenRow, UserRow.username).join(UserRow)
        if username is not None:
            query = query.where(UserRow.username == username)
        rows = session.execute(query.order_by(ApiTokenRow.id)).all()
        return [_info(token, name) for token, name in rows]


def get_token(store: Store, pk: int) -> TokenInfo | None:
    with store.session() as session:
        found = session.execute(
            select(ApiTokenRow, UserRow.username).join(UserRow).where(ApiTokenRow.id == pk)
        ).first()
        return None if found is None else _info(found[0], found[1])


def revoke_token(store: Store, pk: int) -> TokenInfo:
    with store.session() as session:
        found = session.execute(
            select(ApiTokenRow, UserRow.username).join(UserRow).where(ApiTokenRow.id == pk)
        ).first()
        if found is None:
            raise InputError(f"no token with id {pk}; `medsentry tokens list` shows them")
        row, username = found
        if row.revoked_at is None:
            row.revoked_at = time.time()
        return _info(row, username)


def resolve_token(store: Store, token: str) -> TokenOwner | None:
    """The owner of a valid, unexpired, unrevoked token of an enabled user, else None."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    token_id, sep, secret = token[len(PREFIX) :].partition("_")
    if not sep or not token_id or not secret:
        return None
    now = time.time()
    with store.session() as session:
        found = session.execute(
            select(ApiTokenRow, UserRow).join(UserRow).where(ApiTokenRow.token_id == token_id)
        ).first()
        if found is None:
            return None
        row, user = found
        if not hmac.compare_digest(row.secret_hash, digest(secret)):
            return None
        if row.revoked_at is not None or user.disabled:
            return None
        if row.expires_at is not None and row.expires_at <= now:
            return None
        if row.last_used_at is None or now - row.last_used_at > TOUCH_INTERVAL:
            row.last_used_at = now
        return TokenOwner(row.id, user.id, user.username, Role(user.role))
