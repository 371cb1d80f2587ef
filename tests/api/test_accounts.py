"""Accounts, tokens and the CLI that manages them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from typer.testing import CliRunner

import medsentry.cli.operate  # noqa: F401  (registers users/tokens/serve)
from medsentry.api.auth import accounts, tokens
from medsentry.api.auth.passwords import verify_password
from medsentry.api.auth.roles import Role
from medsentry.cli import app
from medsentry.errors import InputError
from medsentry.store.db import Store
from medsentry.store.models.auth import ApiTokenRow, UserRow
from tests.api.conftest import Api


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'a.db'}")


def test_passwords_are_argon2id_hashes(store: Store) -> None:
    accounts.create_user(store, "nurse", "twelve chars ok", Role.VIEWER)
    with store.session() as session:
        stored = session.scalars(select(UserRow.password_hash)).one()
    assert stored.startswith("$argon2id$") and "twelve chars ok" not in stored
    assert verify_password(stored, "twelve chars ok")
    assert not verify_password(stored, "twelve chars ko")
    assert accounts.authenticate(store, "nurse", "twelve chars ok") is not None
    assert accounts.authenticate(store, "nurse", "wrong") is None


def test_weak_or_odd_input_is_refused(store: Store) -> None:
    with pytest.raises(InputError, match="too short"):
        accounts.create_user(store, "nurse", "short", Role.VIEWER)
    with pytest.raises(InputError, match="invalid user name"):
        accounts.create_user(store, "../etc", "long enough password", Role.VIEWER)
    accounts.create_user(store, "nurse", "long enough password", Role.VIEWER)
    with pytest.raises(InputError, match="already exists"):
        accounts.create_user(store, "nurse", "long enough password", Role.ADMIN)
    with pytest.raises(InputError, match="unknown role"):
        Role.parse("superuser")


def test_tokens_are_stored_as_digests_and_can_be_revoked(store: Store) -> None:
    accounts.create_user(store, "siem", "long enough password", Role.VIEWER)
    secret, info = tokens.create_token(store, "siem", "splunk")
    with store.session() as session:
        row = session.scalars(select(ApiTokenRow)).one()
    assert secret.split("_", 2)[2] not in (row.secret_hash, row.token_id)
    owner = tokens.resolve_token(store, secret)
    assert owner is not None and owner.username == "siem" and owner.role is Role.VIEWER
    assert tokens.resolve_token(store, secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    tokens.revoke_token(store, info.id)
    assert tokens.resolve_token(store, secret) is None


def test_expired_tokens_stop_working(store: Store) -> None:
    accounts.create_user(store, "siem", "long enough password", Role.VIEWER)
    secret, info = tokens.create_token(store, "siem", "short-lived", expires_in_days=1)
    assert tokens.resolve_token(store, secret) is not None
    with store.session() as session:
        session.execute(
            update(ApiTokenRow).where(ApiTokenRow.id == info.id).values(expires_at=time.time() - 1)
        )
    assert tokens.resolve_token(store, secret) is None


def test_token_api_lets_users_manage_their_own_tokens(api: Api) -> None:
    created = api.client.post(
        "/api/v1/tokens", json={"name": "script"}, headers=api.auth(Role.VIEWER)
    )
    assert created.status_code == 201
    body = created.json()
    new = {"Authorization": f"Bearer {body['token']}"}
    assert api.client.get("/api/v1/me", headers=new).json()["username"] == "viewer"
    listed = api.get("/api/v1/tokens", Role.VIEWER).json()
    assert {t["name"] for t in listed} == {"tests", "script"}
    assert all("token" not in t for t in listed)
    # A viewer cannot see or revoke the analyst's token; the admin can.
    analyst_token = next(
        t for t in api.get("/api/v1/tokens", Role.ADMIN).json() if t["username"] == "analyst"
    )
    url = f"/api/v1/tokens/{analyst_token['id']}"
    assert api.client.delete(url, headers=api.auth(Role.VIEWER)).status_code == 404
    assert api.client.delete(f"/api/v1/tokens/{body['id']}", headers=new).status_code == 200
    assert api.client.get("/api/v1/me", headers=new).status_code == 401


def test_admin_creates_and_changes_users(api: Api) -> None:
    admin = api.auth(Role.ADMIN)
    made = api.client.post(
        "/api/v1/users",
        json={"username": "biomed", "password": "long enough password", "role": "analyst"},
        headers=admin,
    )
    assert made.status_code == 201 and made.json()["role"] == "analyst"
    assert "password" not in made.text
    short = api.client.post(
        "/api/v1/users", json={"username": "x", "password": "Tiny-Pw9"}, headers=admin
    )
    assert short.status_code == 422 and "Tiny-Pw9" not in short.text  # input is not echoed
    assert (
        api.client.patch("/api/v1/users/admin", json={"disabled": True}, headers=admin).status_code
        == 409
    )
    assert (
        api.client.patch("/api/v1/users/ghost", json={"role": "viewer"}, headers=admin).status_code
        == 400
    )


def test_cli_manages_users_and_tokens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    added = runner.invoke(
        app,
        ["users", "add", "bob", "--role", "analyst", "--password-stdin", "--db", url],
        input="a long enough password\n",
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["users", "list", "--db", url], env={"COLUMNS": "200"})
    assert "bob" in listed.output and "analyst" in listed.output
    made = runner.invoke(app, ["tokens", "create", "--user", "bob", "--name", "siem", "--db", url])
    assert made.exit_code == 0
    secret = made.stdout.strip().splitlines()[-1]
    store = Store(url)
    try:
        assert tokens.resolve_token(store, secret) is not None
        assert runner.invoke(app, ["tokens", "revoke", "1", "--db", url]).exit_code == 0
        assert tokens.resolve_token(store, secret) is None
        assert runner.invoke(app, ["users", "disable", "bob", "--db", url]).exit_code == 0
        assert accounts.authenticate(store, "bob", "a long enough password") is None
        with store.engine.connect() as conn:
            actions = conn.execute(text("SELECT action, actor FROM audit_log")).all()
        assert [a for a, _ in actions] == [
            "user_created",
            "token_created",
            "token_revoked",
            "user_disabled",
        ]
        assert all(actor.startswith("cli:") for _, actor in actions)
    finally:
        store.close()
