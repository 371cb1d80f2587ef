"""Property-based run over the OpenAPI document: no generated request may cause a server
error, and every documented answer must match its schema. Bounded to stay quick."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from medsentry.api.app import create_app
from medsentry.api.auth import accounts, tokens
from medsentry.api.auth.roles import Role
from medsentry.api.settings import ApiSettings
from medsentry.store.db import Store
from tests.api.conftest import DEMO, analyse_into

warnings.filterwarnings("ignore", message=".*httpx2.*")

FUZZ_ADMIN = "fuzz-admin"


def _build(folder: Path) -> tuple[Store, FastAPI]:
    store = Store(f"sqlite:///{folder / 'fuzz.db'}")
    analyse_into(store, DEMO)
    accounts.create_user(store, FUZZ_ADMIN, "a long enough fuzz password", Role.ADMIN)
    app = create_app(
        settings=ApiSettings(secure_cookies=False, work_dir=folder / "uploads"), store=store
    )
    return store, app


_folder = Path(tempfile.mkdtemp(prefix="medsentry-fuzz-"))
_store, _app = _build(_folder)
_token: list[str] = [tokens.create_token(_store, FUZZ_ADMIN, "fuzz")[0]]
schema = schemathesis.openapi.from_asgi(
    "/api/v1/openapi.json", _app, headers={"Authorization": f"Bearer {_token[0]}"}
)


def _admin_headers() -> dict[str, str]:
    # A generated DELETE /tokens/{id} may revoke the fuzzing token itself: issue a new one.
    if tokens.resolve_token(_store, _token[0]) is None:
        _token[0] = tokens.create_token(_store, FUZZ_ADMIN, "fuzz")[0]
    return {"Authorization": f"Bearer {_token[0]}"}


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    _app.state.ctx.jobs.wait_idle(60)
    _store.close()
    shutil.rmtree(_folder, ignore_errors=True)


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers=_admin_headers(), checks=[not_a_server_error, response_schema_conformance]
    )
