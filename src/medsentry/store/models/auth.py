"""Operate tables: local users, API tokens, web sessions and the append-only audit log.

Secrets are never stored: passwords as argon2 hashes, API tokens and session ids as
SHA-256 digests (they are long random values, so a fast hash is enough to make a stolen
table useless while keeping every request's lookup cheap).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from medsentry.store.base import Base
from medsentry.store.models.core import DeviceRow


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)
    last_login_at: Mapped[float | None] = mapped_column(Float)

    tokens: Mapped[list[ApiTokenRow]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )


class ApiTokenRow(Base):
    """A bearer token ``mst_<token_id>_<secret>``: ``token_id`` finds the row, the secret's
    digest proves possession."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float)
    last_used_at: Mapped[float | None] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)

    user: Mapped[UserRow] = relationship(back_populates="tokens")


class WebSessionRow(Base):
    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    last_seen_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)
    ip: Mapped[str | None] = mapped_column(String(45))


class AuditRow(Base):
    """Who viewed or changed what. Append-only: the database refuses updates and deletes.

    ``route`` is the path template (``/api/v1/devices/{key}``), ``target`` the concrete
    path; query strings are not kept, since a search box may hold anything a user typed.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[float] = mapped_column(Float, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(16))  # session, token, cli, anonymous
    action: Mapped[str] = mapped_column(String(32), index=True)
    method: Mapped[str | None] = mapped_column(String(8))
    route: Mapped[str | None] = mapped_column(String(256))
    target: Mapped[str | None] = mapped_column(String(512))
    status: Mapped[int | None] = mapped_column(Integer)
    ip: Mapped[str | None] = mapped_column(String(45))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_audit_log_actor_at", "actor", "at"),)


# Indexes the dashboard's device list sorts by (the core migrations index last_seen, type
# and manufacturer); declared here, with their migration auth_0002, so the list stays an
# index walk at any inventory size.
Index("ix_devices_first_seen", DeviceRow.first_seen)
Index("ix_devices_bytes", DeviceRow.bytes_sent + DeviceRow.bytes_received)
Index("ix_devices_packets", DeviceRow.packets_sent + DeviceRow.packets_received)
