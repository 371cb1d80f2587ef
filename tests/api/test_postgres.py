"""The API over PostgreSQL: the same answers, and hostile text never becomes a 500."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from medsentry.api.app import create_app
from medsentry.api.auth import accounts, tokens
from medsentry.api.auth.roles import Role
from medsentry.api.settings import ApiSettings
from medsentry.store.db import Store
from tests.api.conftest import DEMO, analyse_into

warnings.filterwarnings("ignore", message=".*httpx2.*")
from fastapi.testclient import TestClient  # noqa: E402

pytestmark = pytest.mark.postgres


def test_api_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    store = Store(pg_url)
    try:
        analyse_into(store, DEMO)
        accounts.create_user(store, "ana", "a long enough password", Role.ADMIN)
        secret, _ = tokens.create_token(store, "ana", "pg")
        app = create_app(settings=ApiSettings(secure_cookies=False, work_dir=tmp_path), store=store)
        auth = {"Authorization": f"Bearer {secret}"}
        with TestClient(app) as client:
            devices = client.get("/api/v1/devices?limit=500&sort=bytes", headers=auth).json()
            assert devices["total"] >= 10
            key = devices["items"][0]["key"]
            detail = client.get(f"/api/v1/devices/{key}", headers=auth).json()
            assert detail["protocols"] and detail["peers"]
            assert client.get(f"/devices/{key}", headers=auth).status_code == 200
            assert client.get("/", headers=auth).status_code == 200
            for url in ("/api/v1/devices?search=a%00b", "/api/v1/events?kind=%00"):
                assert client.get(url, headers=auth).status_code == 422
            assert client.get("/devices/mac%00x", headers=auth).status_code == 404
            assert client.get("/devices?q=%00", headers=auth).status_code == 200
            _triage_and_compliance(client, auth)
            app.state.ctx.audit.flush()
            audit = client.get("/api/v1/audit?actor=ana", headers=auth).json()
            assert audit["total"] >= 5
    finally:
        store.close()


def _triage_and_compliance(client: TestClient, auth: dict[str, str]) -> None:
    broker = "mac:b8:27:eb:4d:53:40"
    alerts = client.get(f"/api/v1/alerts?device={broker}", headers=auth).json()
    assert alerts["total"] == 2
    first = alerts["items"][0]["id"]
    acked = client.post(f"/api/v1/alerts/{first}/acknowledge", json={"note": "on it"}, headers=auth)
    assert acked.json()["status"] == "acknowledged"
    assert client.post(f"/api/v1/alerts/{first}/acknowledge", headers=auth).status_code == 409
    assert client.post(f"/api/v1/alerts/{first}/resolve", headers=auth).status_code == 200
    assert client.get("/api/v1/alerts?status=resolved", headers=auth).json()["total"] == 1
    comment = client.post(f"/api/v1/alerts/{first}/comments", json={"text": "x"}, headers=auth)
    assert comment.status_code == 201
    assert client.get("/api/v1/devices?risk=any", headers=auth).json()["total"] == 0
    assessed = client.post("/api/v1/compliance/hospital/assess", headers=auth)
    assert assessed.status_code == 201 and assessed.json()["results"]
    for page in ("/alerts", "/alerts?device=%00&category=%00", "/vulnerabilities?device=%00"):
        assert client.get(page, headers=auth).status_code == 200, page
    assert client.get("/compliance/hospital", headers=auth).status_code == 200
    assert client.get(f"/alerts/{first}", headers=auth).status_code == 200
