"""Alert triage in the store: the migration, the queue's filters and order, status changes
and their conflicts, comments, and what the compliance evaluator reads from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from medsentry.compliance.evaluators import Context, Status, run_evaluator
from medsentry.errors import InputError
from medsentry.store.alert_triage import (
    AlertFilter,
    AlertStateError,
    UnknownAlertError,
    add_comment,
    change_status,
    comments,
    get_alert,
    list_alerts,
    mentions_hosts,
    status_counts,
)
from medsentry.store.alerts import save_alerts
from medsentry.store.base import Base
from medsentry.store.db import Store


def _alert(n: int, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": f"{n:020x}",
        "ts_start": 1000.0 + n * 100,
        "ts_end": 1050.0 + n * 100,
        "category": "recon_port_scan",
        "name": "SYN port scan",
        "severity": "medium",
        "confidence": 0.9,
        "src": f"10.0.0.{n}",
        "dst": "10.0.9.9",
        "protocol": "tcp",
        "targets": {"10.0.9.9": 100},
        "devices": [],
        "counts": {"probes": 100},
        "evidence": {"uids": [f"C{n}abc"]},
        "mitre": ["T1046"],
    }
    return base | extra


@pytest.fixture
def alerts(store: Store) -> Store:
    save_alerts(
        store,
        [
            _alert(1),
            _alert(
                2,
                severity="critical",
                category="dos",
                src=None,
                dst="10.0.5.5:2575",
                targets={"10.0.5.5:2575": 50},
            ),
            _alert(3, severity="low", targets={"[fe80::1]:104": 3}, dst="[fe80::1]:104"),
            _alert(4, devices=["10.0.7.7", "10.0.7.70"], src="10.0.7.70"),
        ],
    )
    return store


def test_the_migration_builds_what_the_models_describe(store: Store) -> None:
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "alert" in repr(d)] == []


def test_new_alerts_are_open_and_the_queue_filters_and_sorts(alerts: Store) -> None:
    everything, total = list_alerts(alerts)
    assert total == 4 and {a.status for a in everything} == {"open"}
    assert [a.ts_start for a in everything] == sorted(
        (a.ts_start for a in everything), reverse=True
    )
    by_severity, _ = list_alerts(alerts, sort="severity", desc=True)
    assert [a.severity for a in by_severity] == ["critical", "medium", "medium", "low"]
    only_dos, n = list_alerts(alerts, AlertFilter(category="dos"))
    assert n == 1 and only_dos[0].dst == "10.0.5.5:2575"
    assert list_alerts(alerts, AlertFilter(severity="low"))[1] == 1
    # Active in a span: the episode overlaps it.
    assert {a.id for a in list_alerts(alerts, AlertFilter(since=1240, until=1310))[0]} == {
        f"{2:020x}",
        f"{3:020x}",
    }
    page, n = list_alerts(alerts, limit=2, offset=2, sort="ts_start", desc=False)
    assert n == 4 and [a.id for a in page] == [f"{3:020x}", f"{4:020x}"]
    with pytest.raises(InputError, match="cannot sort"):
        list_alerts(alerts, sort="nonsense")


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        (["10.0.0.1"], {1}),  # source
        (["10.0.9.9"], {1, 4}),  # main target (alert 3's target is elsewhere)
        (["10.0.5.5"], {2}),  # target with a port
        (["fe80::1"], {3}),  # IPv6 target with a port, in brackets
        (["10.0.7.7"], {4}),  # device list only
        (["10.0.0.1", "10.0.7.7"], {1, 4}),
        (["10.0.0"], set()),  # a prefix is not a host
        ([], set()),
    ],
)
def test_alerts_of_a_device_are_found_by_any_of_its_addresses(
    alerts: Store, hosts: list[str], expected: set[int]
) -> None:
    found, _ = list_alerts(alerts, AlertFilter(hosts=hosts))
    assert {int(a.id, 16) for a in found} == expected
    assert mentions_hosts(hosts) is not None


def test_status_changes_record_who_and_when_and_refuse_conflicts(alerts: Store) -> None:
    first = f"{1:020x}"
    acked = change_status(alerts, first, "acknowledge", "alice", "looking into it", now=5000)
    assert (acked.status, acked.acknowledged_by, acked.acknowledged_at) == (
        "acknowledged",
        "alice",
        5000,
    )
    with pytest.raises(AlertStateError, match="already acknowledged by alice"):
        change_status(alerts, first, "acknowledge", "bob")
    resolved = change_status(alerts, first, "resolve", "bob", now=6000)
    assert (resolved.status, resolved.resolved_by) == ("resolved", "bob")
    assert resolved.acknowledged_by == "alice"  # the first acknowledgement stays
    with pytest.raises(AlertStateError, match="already resolved by bob"):
        change_status(alerts, first, "resolve", "carol")
    reopened = change_status(alerts, first, "reopen", "carol", "not the scanner we allow")
    assert reopened.status == "acknowledged" and reopened.resolved_by is None
    with pytest.raises(AlertStateError, match="nothing to reopen"):
        change_status(alerts, first, "reopen", "carol")

    # Resolving an alert nobody acknowledged records the acknowledgement too.
    direct = change_status(alerts, f"{2:020x}", "resolve", "dave", now=7000)
    assert (direct.acknowledged_by, direct.acknowledged_at, direct.resolved_at) == (
        "dave",
        7000,
        7000,
    )
    assert status_counts(alerts) == {"open": 2, "acknowledged": 1, "resolved": 1}
    assert [c.text for c in comments(alerts, first)] == [
        "looking into it",
        "not the scanner we allow",
    ]
    with pytest.raises(UnknownAlertError):
        change_status(alerts, "f" * 20, "acknowledge", "alice")
    with pytest.raises(InputError, match="unknown change"):
        change_status(alerts, first, "delete", "alice")


def test_comments_are_kept_in_order_and_validated(alerts: Store) -> None:
    first = f"{1:020x}"
    add_comment(alerts, first, "alice", "  scanner is the vulnerability assessment box ")
    add_comment(alerts, first, "bob", "confirmed with IT")
    assert [(c.author, c.text) for c in comments(alerts, first)] == [
        ("alice", "scanner is the vulnerability assessment box"),
        ("bob", "confirmed with IT"),
    ]
    with pytest.raises(InputError, match="needs some text"):
        add_comment(alerts, first, "alice", "   ")
    with pytest.raises(InputError, match="at most"):
        add_comment(alerts, first, "alice", "x" * 5000)
    with pytest.raises(UnknownAlertError):
        add_comment(alerts, "0" * 20, "alice", "hello")


def test_reanalysis_keeps_the_triage_state(alerts: Store) -> None:
    first = f"{1:020x}"
    change_status(alerts, first, "acknowledge", "alice")
    save_alerts(alerts, [_alert(1, counts={"probes": 250})])  # the same episode, seen again
    again = get_alert(alerts, first)
    assert again.counts == {"probes": 250} and again.status == "acknowledged"
    assert again.uids == ["C1abc"]


def test_the_compliance_evaluator_reads_the_acknowledgements(alerts: Store) -> None:
    def verdict() -> Status:
        with alerts.session() as session:
            ctx = Context(session, now=1e6)  # long after every alert
            return run_evaluator(ctx, "alerts.unacknowledged", None).status

    assert verdict() is Status.FAIL
    for n in (1, 2, 3):
        change_status(alerts, f"{n:020x}", "acknowledge", "alice")
    assert verdict() is Status.FAIL  # one is still waiting
    change_status(alerts, f"{4:020x}", "resolve", "bob")
    assert verdict() is Status.PASS


def test_the_host_links_are_built_for_alerts_stored_before_them(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import select

    from medsentry.store.alert_hosts import ALERT_HOSTS
    from medsentry.store.db import alembic_config, make_engine

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    command.upgrade(alembic_config(engine), "detect_0002")
    with engine.begin() as conn:
        conn.exec_driver_sql(  # as detect_0002 left it: no host links yet
            "INSERT INTO alerts (alert_id, ts_start, ts_end, category, name, severity, "
            "confidence, src, dst, source, targets, devices, counts, evidence, mitre) "
            "VALUES ('a1', 1, 2, 'dos', 'SYN flood', 'high', 0.9, NULL, '10.0.0.5:80', "
            "'rule', '{\"10.0.0.5:80\": 9, \"[fe80::2]:443\": 1}', '[\"aa:bb:cc:dd:ee:ff\"]', "
            "'{}', '{}', '[]')"
        )
    engine.dispose()
    store = Store(url)  # upgrades to the newest revision
    try:
        with store.engine.connect() as conn:
            hosts = set(conn.execute(select(ALERT_HOSTS.c.host)).scalars())
        assert hosts == {"10.0.0.5", "fe80::2", "aa:bb:cc:dd:ee:ff"}
        assert [a.id for a in list_alerts(store, AlertFilter(hosts=["fe80::2"]))[0]] == ["a1"]
    finally:
        store.close()
