"""Operate: ``medsentry serve``, ``medsentry users ...`` and ``medsentry tokens ...``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from medsentry.api.auth import accounts, tokens
from medsentry.api.auth.audit import AuditEntry, write_entries
from medsentry.api.auth.roles import Role
from medsentry.cli import app
from medsentry.config import database_url
from medsentry.errors import InputError
from medsentry.store.db import Store

DB_HELP = "Database URL (default: MEDSENTRY_DB, else sqlite:///medsentry.db)."
users_app = typer.Typer(help="Manage the accounts that may sign in.", no_args_is_help=True)
tokens_app = typer.Typer(help="Manage API tokens for scripts and SIEMs.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
out = Console()
err = Console(stderr=True)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _audit(store: Store, action: str, detail: dict[str, object]) -> None:
    """Account changes made from the command line go into the same audit log."""
    actor = f"cli:{getpass.getuser()}"
    write_entries(store, [AuditEntry(actor=actor, via="cli", action=action, detail=detail)])


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat it: ") != first:
        raise InputError("the two passwords differ; run the command again")
    return first


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    insecure_cookies: bool = typer.Option(
        False,
        "--insecure-cookies",
        help="Send session cookies over plain HTTP (only behind no TLS on a trusted network).",
    ),
    work_dir: Path | None = typer.Option(
        None, "--work-dir", help="Folder for uploads being checked (default: a temp folder)."
    ),
    max_upload_mib: int = typer.Option(1024, "--max-upload-mib", min=1, help="Capture limit."),
) -> None:
    """Serve the dashboard and REST API (OpenAPI at /api/v1/openapi.json)."""
    import uvicorn

    from medsentry.api.app import create_app
    from medsentry.api.settings import MIB, ApiSettings

    settings = ApiSettings(
        secure_cookies=not insecure_cookies, max_capture_bytes=max_upload_mib * MIB
    )
    if work_dir is not None:
        settings = dataclasses.replace(settings, work_dir=work_dir)
    url = database_url(db)
    store = Store(url)
    if not accounts.list_users(store):
        err.print(
            "[yellow]No accounts yet:[/] create one with "
            f"`medsentry users add NAME --role admin --db {url}`"
        )
    application = create_app(settings=settings, store=store)
    shown = make_url(url).render_as_string(hide_password=True)
    err.print(f"MedSentry on http://{host}:{port}/ (database {shown})")
    uvicorn.run(application, host=host, port=port, log_level="info", proxy_headers=False)
    store.close()


@users_app.command("add")
def users_add(
    username: str = typer.Argument(..., help="Sign-in name."),
    role: str = typer.Option("viewer", "--role", help="viewer, analyst or admin."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Create an account (asks for its password)."""
    chosen = Role.parse(role)
    accounts.check_username(username)
    password = _read_password(password_stdin)
    store = Store(database_url(db))
    try:
        user = accounts.create_user(store, username, password, chosen)
        _audit(store, "user_created", {"user": user.username, "role": user.role.value})
    finally:
        store.close()
    out.print(f"user {user.username} created with role {user.role.value}")


@users_app.command("list")
def users_list(db: str | None = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """List accounts."""
    store = Store(database_url(db))
    try:
        users = accounts.list_users(store)
    finally:
        store.close()
    table = Table("user", "role", "state", "created", "last sign-in")
    for u in users:
        state = "disabled" if u.disabled else "active"
        table.add_row(u.username, u.role.value, state, _when(u.created_at), _when(u.last_login_at))
    out.print(table if users else "no accounts yet: `medsentry users add NAME --role admin`")


@users_app.command("disable")
def users_disable(
    username: str = typer.Argument(..., help="Sign-in name."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Disable an account: its sessions end and its tokens are revoked at once."""
    store = Store(database_url(db))
    try:
        accounts.update_user(store, username, disabled=True)
        _audit(store, "user_disabled", {"user": username})
    finally:
        store.close()
    out.print(f"user {username} disabled; their sessions and tokens no longer work")


@users_app.command("enable")
def users_enable(
    username: str = typer.Argument(..., help="Sign-in name."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Enable a disabled account again (its old tokens stay revoked)."""
    store = Store(database_url(db))
    try:
        accounts.update_user(store, username, disabled=False)
        _audit(store, "user_enabled", {"user": username})
    finally:
        store.close()
    out.print(f"user {username} enabled")


@tokens_app.command("create")
def tokens_create(
    username: str = typer.Option(..., "--user", help="Whose token (it acts with their role)."),
    name: str = typer.Option(..., "--name", help="What it is for, e.g. 'siem'."),
    expires_days: float | None = typer.Option(None, "--expires-days", help="Lifetime in days."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Create an API token; it is printed once, only its digest is kept."""
    store = Store(database_url(db))
    try:
        secret, info = tokens.create_token(store, username, name, expires_days)
        _audit(store, "token_created", {"token": info.id, "user": username, "name": info.name})
    finally:
        store.close()
    err.print(f"token {info.id} for {username} ({info.name}); store it now, it is not shown again:")
    typer.echo(secret)


@tokens_app.command("list")
def tokens_list(
    username: str | None = typer.Option(None, "--user", help="Only this user's tokens."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """List tokens (never their secrets)."""
    store = Store(database_url(db))
    try:
        found = tokens.list_tokens(store, username)
    finally:
        store.close()
    table = Table("id", "user", "name", "created", "expires", "last used", "state")
    for t in found:
        state = "revoked" if t.revoked_at else "active"
        table.add_row(
            str(t.id),
            t.username,
            t.name,
            _when(t.created_at),
            _when(t.expires_at),
            _when(t.last_used_at),
            state,
        )
    out.print(table if found else "no tokens")


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: int = typer.Argument(..., help="The token's id (`medsentry tokens list`)."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Revoke a token; requests using it are refused from now on."""
    store = Store(database_url(db))
    try:
        info = tokens.revoke_token(store, token_id)
        _audit(store, "token_revoked", {"token": info.id, "user": info.username})
    finally:
        store.close()
    out.print(f"token {info.id} ({info.name}, {info.username}) revoked")
