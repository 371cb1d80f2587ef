"""API fixtures: a store holding the analysed demo capture and one user per role.

The store is built once per test session and copied for each test (a SQLite file copy
costs far less than re-analysing and re-hashing passwords).
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from medsentry.api.auth import accounts, tokens
from medsentry.api.auth.roles import Role
from medsentry.api.jobs import analyse_capture
from medsentry.api.uploads import StoredUpload
from medsentry.store.db import Store

warnings.filterwarnings("ignore", message=".*httpx2.*")
from fastapi.testclient import TestClient  # noqa: E402

from medsentry.api.app import create_app  # noqa: E402
from medsentry.api.settings import ApiSettings  # noqa: E402

DEMO = Path(__file__).resolve().parents[2] / "src" / "medsentry" / "examples" / "hospital_demo.pcap"
PASSWORD = "a long enough test password"
ROLES = (Role.VIEWER, Role.ANALYST, Role.ADMIN)


def analyse_into(store: Store, path: Path) -> None:
    """Analyse a capture into the store the way an upload job does."""
    upload = StoredUpload(path.parent, path, path.name, path.stat().st_size, 0, "pcap")
    analyse_capture(store, upload, lambda _fraction, _stage: None)


@dataclass(frozen=True)
class Template:
    db: Path
    tokens: dict[Role, str]


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    folder = tmp_path_factory.mktemp("api-template")
    db = folder / "demo.db"
    store = Store(f"sqlite:///{db}")
    analyse_into(store, DEMO)
    secrets: dict[Role, str] = {}
    for role in ROLES:
        accounts.create_user(store, role.value, PASSWORD, role)
        secrets[role], _ = tokens.create_token(store, role.value, "tests")
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return Template(db, secrets)


@dataclass
class Api:
    client: TestClient
    store: Store
    tokens: dict[Role, str]
    work_dir: Path

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def get(self, url: str, role: Role = Role.VIEWER, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.client.get(url, headers=self.auth(role), **kwargs)  # type: ignore[arg-type]


def make_api(template: Template, tmp_path: Path, **settings: object) -> Iterator[Api]:
    db = tmp_path / "store.db"
    shutil.copy(template.db, db)
    store = Store(f"sqlite:///{db}")
    work = tmp_path / "uploads"
    options: dict[str, object] = {"secure_cookies": False, "work_dir": work, **settings}
    config = ApiSettings(**options)  # type: ignore[arg-type]
    app = create_app(settings=config, store=store)
    # httpx, like a browser, sends Secure cookies only over https.
    scheme = "https" if config.secure_cookies else "http"
    with TestClient(app, base_url=f"{scheme}://127.0.0.1") as client:
        yield Api(client, store, template.tokens, work)
    store.close()


@pytest.fixture
def api(demo_template: Template, tmp_path: Path) -> Iterator[Api]:
    yield from make_api(demo_template, tmp_path)
