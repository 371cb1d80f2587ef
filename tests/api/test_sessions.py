"""Browser sign-in: login CSRF, session cookie flags, CSRF on writes, throttling, logout."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from medsentry.api.auth.guard import SESSION_COOKIE
from medsentry.api.auth.roles import Role
from medsentry.store.models.auth import WebSessionRow
from tests.api.conftest import PASSWORD, Api, Template, make_api


def _form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def sign_in(api: Api, user: str, password: str = PASSWORD, next_url: str = "/"):  # type: ignore[no-untyped-def]
    page = api.client.get("/login")
    return api.client.post(
        "/login",
        data={
            "username": user,
            "password": password,
            "csrf_token": _form_token(page.text),
            "next": next_url,
        },
        follow_redirects=False,
    )


def test_pages_ask_anonymous_visitors_to_sign_in(api: Api) -> None:
    response = api.client.get("/devices?q=pump")
    assert response.status_code == 401
    assert 'action="/login"' in response.text
    assert 'name="next" value="/devices?q=pump"' in response.text


def test_sign_in_sets_a_hardened_session_cookie(demo_template: Template, tmp_path: Path) -> None:
    for api in make_api(demo_template, tmp_path, secure_cookies=True):
        response = sign_in(api, "analyst", next_url="/devices")
        assert response.status_code == 303
        assert response.headers["location"] == "/devices"
        cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
        )
        lowered = cookie.lower()
        assert "httponly" in lowered and "samesite=strict" in lowered and "secure" in lowered
        # Only the digest of the session id is stored.
        value = cookie.split("=", 1)[1].split(";", 1)[0]
        with api.store.session() as session:
            hashes = session.scalars(select(WebSessionRow.session_hash)).all()
        assert hashes and value not in hashes


def test_offsite_next_targets_are_ignored(api: Api) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = sign_in(api, "viewer", next_url=target)
        assert response.headers["location"] == "/"


def test_login_form_needs_its_own_csrf_token(api: Api) -> None:
    api.client.get("/login")
    response = api.client.post(
        "/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert response.status_code == 400
    assert SESSION_COOKIE not in response.cookies


@pytest.fixture
def signed_in(api: Api) -> Iterator[tuple[Api, str]]:
    assert sign_in(api, "analyst").status_code == 303
    csrf = _form_token(api.client.get("/").text)
    yield api, csrf


def test_session_writes_need_the_csrf_token(signed_in: tuple[Api, str]) -> None:
    api, csrf = signed_in
    body = b"not a capture"
    refused = api.client.post("/api/v1/captures", content=body)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    wrong = api.client.post("/api/v1/captures", content=body, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    # With the token the request reaches the upload checks (and fails them, as it should).
    accepted = api.client.post("/api/v1/captures", content=body, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 415


def test_logout_ends_the_session(signed_in: tuple[Api, str]) -> None:
    api, csrf = signed_in
    cookie = api.client.cookies.get(SESSION_COOKIE)
    assert api.client.get("/api/v1/me").json() == {
        "username": "analyst",
        "role": "analyst",
        "via": "session",
    }
    assert (
        api.client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code
        == 303
    )
    api.client.cookies.set(SESSION_COOKIE, cookie or "")  # replaying the old cookie fails
    assert api.client.get("/api/v1/me").status_code == 401


def test_wrong_passwords_are_throttled(api: Api) -> None:
    for _ in range(5):
        assert sign_in(api, "viewer", "wrong password!!").status_code == 401
    blocked = sign_in(api, "viewer")  # even the right password, for now
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert SESSION_COOKIE not in blocked.cookies
    # Other accounts from elsewhere are not locked out by one user's failures.
    assert sign_in(api, "admin").status_code == 303


def test_unknown_users_and_disabled_users_cannot_sign_in(api: Api) -> None:
    assert sign_in(api, "nobody").status_code == 401
    token_owner = api.get("/api/v1/me", Role.ADMIN).json()["username"]
    response = api.client.patch(
        "/api/v1/users/viewer", json={"disabled": True}, headers=api.auth(Role.ADMIN)
    )
    assert response.status_code == 200 and response.json()["disabled"] is True
    assert sign_in(api, "viewer").status_code == 401
    # Disabling revoked the viewer's API token as well.
    assert api.get("/api/v1/me", Role.VIEWER).status_code == 401
    assert token_owner == "admin"
