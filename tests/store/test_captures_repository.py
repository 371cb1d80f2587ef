from __future__ import annotations

import pytest

from medsentry.store import repository as repo
from medsentry.store.db import Store


def test_the_same_capture_keeps_its_id_and_takes_the_new_facts(store: Store) -> None:
    first = repo.record_capture(store, "a" * 64, "/old/path.pcap", 10, 1000, 1.0, 2.0)
    other = repo.record_capture(store, "b" * 64, "/b.pcap", 1, 100, None, None)
    again = repo.record_capture(
        store, "a" * 64, "/new/path.pcap", 12, 1200, 1.0, 3.0, status="partial", error="truncated"
    )
    assert again == first != other
    page = repo.list_captures(store)
    assert page.total == 2
    by_sha = {c.sha256: c for c in page.rows}
    updated = by_sha["a" * 64]
    assert (updated.path, updated.packets, updated.bytes, updated.last_ts) == (
        "/new/path.pcap",
        12,
        1200,
        3.0,
    )
    assert (updated.status, updated.error) == ("partial", "truncated")
    assert page.rows[0].sha256 == "a" * 64  # most recently analysed first
    assert updated.to_json()["id"] == first


def test_capture_identifiers_must_fit() -> None:
    with pytest.raises(ValueError, match="sha256"):
        repo.record_capture(None, "x" * 65, "/p", 0, 0, None, None)  # type: ignore[arg-type]
