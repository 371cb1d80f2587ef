"""Fetch advisory feeds (configurable URLs) and import what they hold.

Feeds are listed in a YAML file (``feeds.yaml`` in this package by default). Each sync fetches
every feed, parses what it brings, and stores each feed's documents in one transaction, so a
feed that fails (network, bad document) leaves the store as it was and the other feeds still
import. Only http(s) and file URLs are fetched.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from medsentry import __version__
from medsentry.errors import ConfigError
from medsentry.store.db import Store
from medsentry.vuln.advisories.importer import (
    ImportSummary,
    ParsedDocument,
    parse_document,
    store_documents,
)
from medsentry.vuln.io import MAX_DOCUMENT_BYTES, DocumentError, parse_json

TIMEOUT_S = 60.0


class Feed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    url: str = Field(min_length=1)
    kind: Literal["document", "index", "rolie"] = "document"
    include: str | None = None
    limit: int | None = Field(default=None, ge=1)


class FeedFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    feeds: list[Feed]


def load_feeds(path: Path | None = None) -> list[Feed]:
    if path is None:
        text = resources.files("medsentry.vuln.advisories").joinpath("feeds.yaml").read_text()
        source = "feeds.yaml"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the feed list ({exc.strerror})") from exc
        source = str(path)
    try:
        feeds = FeedFile.model_validate(yaml.safe_load(text)).feeds
    except (ValidationError, yaml.YAMLError) as exc:
        raise ConfigError(f"{source} is not a valid feed list; fix it: {exc}") from exc
    for feed in feeds:
        _check_scheme(feed.url)
        if feed.include:
            try:
                re.compile(feed.include)
            except re.error as exc:
                raise ConfigError(f"{source}: feed {feed.name}: bad include pattern") from exc
    return feeds


def _check_scheme(url: str) -> None:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https", "file"):
        raise DocumentError(url, "only http, https and file URLs can be fetched")


def fetch(url: str, timeout: float = TIMEOUT_S) -> bytes:
    """The body at ``url``, refusing anything larger than the document size limit."""
    _check_scheme(url)
    request = urllib.request.Request(url, headers={"User-Agent": f"medsentry/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: bytes = response.read(MAX_DOCUMENT_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise DocumentError(url, f"server answered HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DocumentError(url, f"cannot fetch ({reason}); check the URL and network") from exc
    if len(body) > MAX_DOCUMENT_BYTES:
        raise DocumentError(url, "response larger than the 256 MiB limit")
    return body


@dataclass
class FeedResult:
    feed: str
    documents: int = 0
    summary: ImportSummary | None = None
    error: str | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)


def _document_urls(feed: Feed, fetcher: Callable[[str], bytes]) -> list[str]:
    if feed.kind == "document":
        return [feed.url]
    body = fetcher(feed.url)
    if feed.kind == "index":
        text = body.decode("utf-8", errors="replace")
        entries = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    else:
        doc = parse_json(body, feed.url)
        feed_obj = doc.get("feed") if isinstance(doc, dict) else None
        if not isinstance(feed_obj, dict):
            raise DocumentError(feed.url, "not a ROLIE feed (no /feed object)")
        entries = [
            str(e["content"]["src"])
            for e in feed_obj.get("entry") or []
            if isinstance(e, dict)
            and isinstance(e.get("content"), dict)
            and e["content"].get("src")
        ]
    if feed.include:
        pattern = re.compile(feed.include)
        entries = [e for e in entries if pattern.search(e)]
    if feed.limit:
        entries = entries[-feed.limit :]
    return [urllib.parse.urljoin(feed.url, e) for e in entries]


def sync_feeds(
    store: Store,
    feeds: list[Feed],
    *,
    fetcher: Callable[[str], bytes] = fetch,
    strict: bool = False,
) -> list[FeedResult]:
    """Fetch and import every feed; one feed's failure does not stop the others."""
    results = []
    for feed in feeds:
        result = FeedResult(feed.name)
        try:
            urls = _document_urls(feed, fetcher)
            docs: list[ParsedDocument] = []
            for url in urls:
                try:
                    docs.append(parse_document(fetcher(url), url, strict=strict))
                except DocumentError as exc:
                    result.failures.append((exc.source, exc.problem))
            result.documents = len(docs)
            if feed.kind == "document" and result.failures and not docs:
                source, problem = result.failures[0]
                raise DocumentError(source, problem)
            with store.session() as session:
                result.summary = store_documents(session, docs)
            result.summary.failures = list(result.failures)
        except DocumentError as exc:
            result.error = str(exc)
        results.append(result)
    return results


def import_url(store: Store, url: str, *, strict: bool = False) -> ImportSummary:
    """Fetch one document and import it (``advisories import https://...``)."""
    doc = parse_document(fetch(url), url, strict=strict)
    with store.session() as session:
        return store_documents(session, [doc])
