"""Web sessions: a random id in an HttpOnly cookie, its digest in the database, a CSRF
token per session, idle and absolute expiry."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select, update

from medsentry.api.auth.roles import Role
from medsentry.api.auth.tokens import digest
from medsentry.store.db import Store
from medsentry.store.models.auth import UserRow, WebSessionRow

ABSOLUTE_LIFETIME = 12 * 3600.0  # one shift
IDLE_TIMEOUT = 30 * 60.0
TOUCH_INTERVAL = 60.0


@dataclass(frozen=True, slots=True)
class SessionOwner:
    session_pk: int
    user_id: int
    username: str
    role: Role
    csrf_token: str


def create_session(store: Store, user_id: int, ip: str | None) -> tuple[str, str]:
    """A new session for ``user_id``: returns (cookie value, CSRF token)."""
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = time.time()
    with store.session() as session:
        session.add(
            WebSessionRow(
                session_hash=digest(session_id),
                user_id=user_id,
                csrf_token=csrf,
                created_at=now,
                last_seen_at=now,
                expires_at=now + ABSOLUTE_LIFETIME,
                ip=None if ip is None else ip[:45],
            )
        )
    return session_id, csrf


def resolve_session(store: Store, session_id: str) -> SessionOwner | None:
    if not session_id or len(session_id) > 200:
        return None
    now = time.time()
    with store.session() as session:
        found = session.execute(
            select(WebSessionRow, UserRow)
            .join(UserRow, UserRow.id == WebSessionRow.user_id)
            .where(WebSessionRow.session_hash == digest(session_id))
        ).first()
        if found is None:
            return None
        row, user = found
        if row.revoked_at is not None or user.disabled or row.expires_at <= now:
            return None
        if now - row.last_seen_at > IDLE_TIMEOUT:
            row.revoked_at = now
            return None
        if now - row.last_seen_at > TOUCH_INTERVAL:
            row.last_seen_at = now
        return SessionOwner(row.id, user.id, user.username, Role(user.role), row.csrf_token)


def end_session(store: Store, session_pk: int) -> None:
    with store.session() as session:
        session.execute(
            update(WebSessionRow)
            .where(WebSessionRow.id == session_pk, WebSessionRow.revoked_at.is_(None))
            .values(revoked_at=time.time())
        )
