"""A real server on a loopback port and a real headless Chromium driving it."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from medsentry.api.app import create_app
from medsentry.api.auth import accounts
from medsentry.api.auth.roles import Role
from medsentry.api.settings import ApiSettings
from medsentry.store.db import Store
from tests.api.conftest import DEMO, analyse_into

warnings.filterwarnings("ignore", message=".*httpx2.*")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "a long enough e2e password"


@dataclass
class Server:
    url: str
    store: Store
    app: object


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    store = Store(f"sqlite:///{tmp_path / 'e2e.db'}")
    analyse_into(store, DEMO)
    accounts.create_user(store, "nurse-analyst", PASSWORD, Role.ANALYST)
    # Secure cookies on, as in production: Chromium accepts them from http://127.0.0.1.
    app = create_app(
        settings=ApiSettings(secure_cookies=True, work_dir=tmp_path / "uploads"), store=store
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    port = uv.servers[0].sockets[0].getsockname()[1]
    try:
        yield Server(f"http://127.0.0.1:{port}", store, app)
    finally:
        uv.should_exit = True
        thread.join(timeout=20)
        store.close()


@pytest.fixture
def browser_page():  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: apt-get install chromium chromium-driver (see .ci/run)")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.console_errors = errors  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            context.close()
            browser.close()
