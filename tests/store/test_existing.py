from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from medsentry.errors import StoreError
from medsentry.store import repository as repo
from medsentry.store.db import Store
from medsentry.store.existing import open_existing


def test_a_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "medsentry.db"
    with pytest.raises(StoreError, match="no database at") as info:
        open_existing(f"sqlite:///{path}")
    assert "\n" not in str(info.value)
    assert not path.exists()
    assert not path.parent.exists()


def test_the_default_url_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "env.db"
    monkeypatch.setenv("MEDSENTRY_DB", f"sqlite:///{path}")
    with pytest.raises(StoreError, match=str(path)):
        open_existing(None)


def test_unusable_urls_and_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="in-memory"):
        open_existing("sqlite://")
    with pytest.raises(StoreError, match="invalid database URL"):
        open_existing("not a url at all")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database file, just text" * 100)
    with pytest.raises(StoreError, match="cannot open the database") as info:
        open_existing(f"sqlite:///{junk}")
    assert "\n" not in str(info.value)


def test_an_existing_store_opens_with_its_data(db_url: str) -> None:
    created = Store(db_url)
    repo.record_capture(created, "c" * 64, "/c.pcap", 1, 2, None, None)
    created.close()
    reopened = open_existing(db_url)
    try:
        assert [c.sha256 for c in repo.list_captures(reopened).rows] == ["c" * 64]
    finally:
        reopened.close()


@pytest.mark.postgres
def test_a_refused_postgresql_login_is_one_line(pg_server_url: str) -> None:
    wrong = make_url(pg_server_url).set(password="certainly-wrong")
    with pytest.raises(StoreError) as info:
        open_existing(wrong.render_as_string(hide_password=False))
    message = str(info.value)
    assert "\n" not in message
    assert "certainly-wrong" not in message
