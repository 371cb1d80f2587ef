"""Local user accounts: create, list, change, disable, and check a login."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from medsentry.api.auth.passwords import hash_password, needs_rehash, verify_password
from medsentry.api.auth.roles import Role
from medsentry.errors import InputError
from medsentry.store.db import Store
from medsentry.store.models.auth import ApiTokenRow, UserRow, WebSessionRow

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class UnknownUserError(InputError):
    def __init__(self, username: str) -> None:
        super().__init__(f"no user {username!r}; `medsentry users list` shows the accounts")


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: Role
    disabled: bool
    created_at: float
    last_login_at: float | None


def _user(row: UserRow) -> User:
    return User(
        id=row.id,
        username=row.username,
        role=Role(row.role),
        disabled=row.disabled,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


def check_username(username: str) -> str:
    if not USERNAME_RE.fullmatch(username):
        raise InputError(
            f"invalid user name {username!r}: 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return username


def create_user(store: Store, username: str, password: str, role: Role) -> User:
    row = UserRow(
        username=check_username(username),
        password_hash=hash_password(password),
        role=role.value,
        disabled=False,
        created_at=time.time(),
    )
    try:
        with store.session() as session:
            session.add(row)
            session.flush()
            return _user(row)
    except IntegrityError:
        raise InputError(f"user {username!r} already exists") from None


def list_users(store: Store) -> list[User]:
    with store.session() as session:
        rows = session.scalars(select(UserRow).order_by(UserRow.username)).all()
        return [_user(r) for r in rows]


def get_user(store: Store, username: str) -> User:
    with store.session() as session:
        row = session.scalars(select(UserRow).where(UserRow.username == username)).first()
        if row is None:
            raise UnknownUserError(username)
        return _user(row)


def update_user(
    store: Store,
    username: str,
    *,
    role: Role | None = None,
    disabled: bool | None = None,
    password: str | None = None,
) -> User:
    """Change a user. Disabling also ends their sessions and revokes their tokens, so a
    departing colleague loses access at once rather than at the next expiry."""
    now = time.time()
    with store.session() as session:
        row = session.scalars(select(UserRow).where(UserRow.username == username)).first()
        if row is None:
            raise UnknownUserError(username)
        if role is not None:
            row.role = role.value
        if password is not None:
            row.password_hash = hash_password(password)
        if disabled is not None:
            row.disabled = disabled
        if disabled or password is not None:
            session.execute(
                update(WebSessionRow)
                .where(WebSessionRow.user_id == row.id, WebSessionRow.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        if disabled:
            session.execute(
                update(ApiTokenRow)
                .where(ApiTokenRow.user_id == row.id, ApiTokenRow.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return _user(row)


def authenticate(store: Store, username: str, password: str) -> User | None:
    """The enabled user with this name and password, or None (same cost either way)."""
    with store.session() as session:
        row = session.scalars(select(UserRow).where(UserRow.username == username)).first()
        ok = verify_password(row.password_hash if row else None, password)
        if row is None or not ok or row.disabled:
            return None
        if needs_rehash(row.password_hash):
            row.password_hash = hash_password(password)
        row.last_login_at = time.time()
        return _user(row)
