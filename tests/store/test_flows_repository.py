from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from medsentry.errors import InputError
from medsentry.store import repository as repo
from medsentry.store.db import Store
from medsentry.store.models.core import Flow

from .factories import make_device, make_flow


def _capture(store: Store, tag: str = "a") -> int:
    return repo.record_capture(store, tag * 64, f"/captures/{tag}.pcap", 10, 1000, 1.0, 2.0)


def _count_flows(store: Store) -> int:
    with store.session() as session:
        return int(session.execute(select(func.count()).select_from(Flow)).scalar_one())


def test_flow_columns_cover_the_table() -> None:
    # A column added to the model but not to the bulk writer would silently stay empty.
    assert set(repo.FLOW_COLUMNS) == {c.name for c in repo.FLOWS.columns} - {"id"}


def test_saved_flows_read_back_unchanged(store: Store) -> None:
    capture = _capture(store)
    flows = [make_flow(i) for i in range(30)]
    assert repo.save_flows(store, flows, capture) == 30
    page = repo.list_flows(store, sort="ts", desc=False, limit=100)
    assert page.total == 30
    assert page.rows == flows


def test_saving_the_same_flows_twice_keeps_one_row_per_uid(store: Store) -> None:
    capture = _capture(store)
    flows = [make_flow(i) for i in range(50)]
    repo.save_flows(store, flows, capture)
    repo.save_flows(store, flows, capture)
    assert _count_flows(store) == 50


def test_a_flow_saved_again_takes_the_newer_values(store: Store) -> None:
    first = _capture(store, "a")
    second = _capture(store, "b")
    repo.save_flows(store, [make_flow(1), make_flow(2)], first)
    longer = make_flow(1, duration=9.5, orig_bytes=77_777, conn_state="RSTO")
    repo.save_flows(store, [longer], second)
    assert _count_flows(store) == 2
    page = repo.list_flows(store, capture_id=second)
    assert page.rows == [longer]
    assert repo.list_flows(store, capture_id=first).total == 1


def test_a_uid_repeated_within_one_batch_is_written_once(store: Store) -> None:
    capture = _capture(store)
    early, late = make_flow(5, orig_bytes=1), make_flow(5, orig_bytes=2)
    assert repo.save_flows(store, [early, late], capture) == 1
    assert repo.list_flows(store).rows == [late]


def test_numpy_scalars_and_nan_are_stored_as_plain_numbers(store: Store) -> None:
    flow = make_flow(
        3,
        orig_p=np.uint16(5555),
        orig_bytes=np.int64(12),
        ts=np.float64(1_700_000_003.5),
        duration=float("nan"),
    )
    repo.save_flows(store, [flow], None)
    stored = repo.list_flows(store).rows[0]
    assert (stored.orig_p, stored.orig_bytes, stored.ts) == (5555, 12, 1_700_000_003.5)
    assert stored.duration == 0.0
    assert type(stored.orig_p) is int


def test_oversized_text_is_clipped_to_the_column_on_every_database(store: Store) -> None:
    repo.save_flows(store, [make_flow(1, service="x" * 40, conn_state="S" * 12)], None)
    stored = repo.list_flows(store).rows[0]
    assert (stored.service, stored.conn_state) == ("x" * 32, "S" * 8)


def test_flow_filters(store: Store) -> None:
    flows = [
        make_flow(1, orig_h="10.0.0.1", resp_h="10.9.9.9", resp_p=2575, proto="tcp"),
        make_flow(2, orig_h="10.0.0.2", resp_h="10.0.0.1", resp_p=104, proto="tcp"),
        make_flow(3, orig_h="10.0.0.3", resp_h="10.0.0.53", resp_p=53, proto="udp"),
        make_flow(4, orig_h="10.0.0.3", resp_h="10.0.0.4", orig_p=2575, resp_p=9999),
    ]
    repo.save_flows(store, flows, None)

    def uids(**filters: object) -> list[str]:
        page = repo.list_flows(store, sort="ts", desc=False, **filters)  # type: ignore[arg-type]
        assert page.total == len(page.rows)
        return [f.uid for f in page.rows]

    assert uids(ip="10.0.0.1") == [flows[0].uid, flows[1].uid]
    assert uids(proto="UDP") == [flows[2].uid]
    assert uids(port=2575) == [flows[0].uid, flows[3].uid]  # either side
    assert uids(since=flows[1].ts, until=flows[3].ts) == [flows[1].uid, flows[2].uid]
    assert uids(ip="10.0.0.3", proto="udp") == [flows[2].uid]
    assert uids(ip="192.0.2.1") == []


def test_flows_of_a_device_match_its_ips_or_else_its_mac(store: Store) -> None:
    capture = _capture(store)
    with_ip = make_device("mac:02:00:00:00:00:aa", ips={"10.0.0.7", "10.0.0.8"})
    mac_only = make_device("mac:02:00:00:00:00:bb", ips=set())
    repo.save_devices(store, [with_ip, mac_only], capture)
    flows = [
        make_flow(1, orig_h="10.0.0.7", resp_h="10.0.0.1"),
        make_flow(2, orig_h="10.0.0.1", resp_h="10.0.0.8"),
        make_flow(3, orig_h="10.0.0.1", resp_h="10.0.0.2", resp_l2_addr="02:00:00:00:00:bb"),
        make_flow(4, orig_h="10.0.0.1", resp_h="10.0.0.2"),
    ]
    repo.save_flows(store, flows, capture)
    by_ip = repo.list_flows(store, device_key=with_ip.key, sort="ts", desc=False)
    assert [f.uid for f in by_ip.rows] == [flows[0].uid, flows[1].uid]
    by_mac = repo.list_flows(store, device_key=mac_only.key)
    assert [f.uid for f in by_mac.rows] == [flows[2].uid]
    with pytest.raises(repo.UnknownDeviceError, match="mac:nope"):
        repo.list_flows(store, device_key="mac:nope")


def test_flow_pages_are_stable_and_cover_every_row_once(store: Store) -> None:
    # Equal sort keys (same port everywhere) must still page deterministically.
    flows = [make_flow(i, resp_p=104) for i in range(23)]
    repo.save_flows(store, flows, None)
    seen: list[str] = []
    for offset in range(0, 30, 5):
        page = repo.list_flows(store, sort="resp_p", limit=5, offset=offset)
        assert page.total == 23
        seen.extend(f.uid for f in page.rows)
    assert sorted(seen) == sorted(f.uid for f in flows)
    assert len(seen) == 23


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("ts", lambda f: f.ts),
        ("bytes", lambda f: f.orig_bytes + f.resp_bytes),
        ("duration", lambda f: f.duration),
        ("resp_p", lambda f: f.resp_p),
    ],
)
def test_flow_sorting(tmp_path: Path, sort: str, key: object) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    flows = [make_flow(i, resp_p=(i * 37) % 11, orig_bytes=(i * 7919) % 101) for i in range(40)]
    repo.save_flows(store, flows, None)
    for desc in (False, True):
        rows = repo.list_flows(store, sort=sort, desc=desc, limit=100).rows
        values = [key(f) for f in rows]  # type: ignore[operator]
        assert values == sorted(values, reverse=desc)
    store.close()


def test_bad_sort_and_window_are_input_errors(store: Store) -> None:
    with pytest.raises(InputError, match="choose one of"):
        repo.list_flows(store, sort="password")
    with pytest.raises(InputError, match="limit"):
        repo.list_flows(store, limit=0)
    with pytest.raises(InputError, match="offset"):
        repo.list_flows(store, offset=-1)


def test_fifty_thousand_flows_save_in_bulk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'bulk.db'}")
    capture = _capture(store)
    flows = [make_flow(i) for i in range(50_000)]
    started, cpu_started = time.perf_counter(), time.process_time()
    assert repo.save_flows(store, flows, capture) == 50_000
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    assert repo.save_flows(store, flows[:10_000], capture) == 10_000
    assert _count_flows(store) == 50_000
    middle = repo.list_flows(store, sort="ts", desc=False, limit=1, offset=25_000).rows[0]
    assert middle == flows[25_000]
    with capsys.disabled():
        print(
            f"\nsave_flows on SQLite: {50_000 / elapsed:,.0f} rows/s wall, "
            f"{50_000 / cpu:,.0f} rows/s of CPU time"
        )
    store.close()
