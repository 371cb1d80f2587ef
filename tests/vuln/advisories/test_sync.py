"""`advisories sync` against a local HTTP server serving corpus files (no internet)."""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from medsentry.errors import ConfigError
from medsentry.store.db import Store
from medsentry.store.models.vuln import AdvisoryRow, KevRow
from medsentry.vuln.advisories.sync import Feed, load_feeds, sync_feeds


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def feed_root(tmp_path: Path, vuln_corpus: Path) -> Path:
    """A served folder: a few ICSMA files, an index listing them, the KEV catalog."""
    root = tmp_path / "www"
    (root / "csaf").mkdir(parents=True)
    names = sorted(p.name for p in (vuln_corpus / "csaf/icsma").glob("icsma-24-*.json"))[:5]
    for name in names:
        shutil.copy(vuln_corpus / "csaf/icsma" / name, root / "csaf" / name)
    (root / "csaf/index.txt").write_text(
        "\n".join([*names, "icsa-00-000-00.json"]) + "\n"  # a non-ICSMA entry to filter out
    )
    shutil.copy(vuln_corpus / "kev/known_exploited_vulnerabilities.json", root / "kev.json")
    (root / "broken.json").write_text("{not json")
    return root


@pytest.fixture
def server(feed_root: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(feed_root))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _count(store: Store, model: type) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_sync_fetches_index_and_document_feeds(server: str, vuln_store: Store) -> None:
    feeds = [
        Feed(name="icsma", kind="index", url=f"{server}/csaf/index.txt", include="icsma-"),
        Feed(name="kev", url=f"{server}/kev.json"),
    ]
    results = sync_feeds(vuln_store, feeds)
    assert [r.error for r in results] == [None, None]
    assert results[0].documents == 5 and results[0].summary is not None
    assert results[0].summary.new == 5
    assert _count(vuln_store, AdvisoryRow) == 5
    assert _count(vuln_store, KevRow) > 1000

    again = sync_feeds(vuln_store, feeds)
    assert again[0].summary is not None and again[0].summary.unchanged == 5
    assert _count(vuln_store, AdvisoryRow) == 5


def test_failing_feed_keeps_what_was_imported(server: str, vuln_store: Store) -> None:
    sync_feeds(vuln_store, [Feed(name="kev", url=f"{server}/kev.json")])
    before = _count(vuln_store, KevRow)
    results = sync_feeds(
        vuln_store,
        [
            Feed(name="missing", url=f"{server}/nope.json"),
            Feed(name="broken", url=f"{server}/broken.json"),
            Feed(name="kev", url=f"{server}/kev.json"),
        ],
    )
    assert results[0].error is not None and "HTTP 404" in results[0].error
    assert results[1].failures and "not valid JSON" in results[1].failures[0][1]
    assert results[2].error is None
    assert _count(vuln_store, KevRow) == before


def test_feed_file_is_validated(tmp_path: Path) -> None:
    assert any(f.name == "cisa-kev" for f in load_feeds())
    bad = tmp_path / "feeds.yaml"
    bad.write_text("feeds:\n  - name: x\n    url: ftp://example.org/a.json\n")
    with pytest.raises(Exception, match="only http, https and file URLs"):
        load_feeds(bad)
    bad.write_text("feeds:\n  - name: x\n    kind: torrent\n    url: https://example.org\n")
    with pytest.raises(ConfigError, match="not a valid feed list"):
        load_feeds(bad)
