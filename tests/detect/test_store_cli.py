"""Alerts and baselines in the store (SQLite and PostgreSQL) and the catch commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import medsentry.cli.catch  # noqa: F401  (registers alerts, baseline and model)
from medsentry.cli import app
from medsentry.detect.base import Alert, Category, Severity
from medsentry.store.alerts import (
    get_baseline,
    load_baselines,
    query_alerts,
    reset_baseline,
    save_alerts,
    save_baselines,
)
from medsentry.store.db import Store

WIDE = {"COLUMNS": "250"}


def alert(category: Category, src: str, ts: float, packets: int) -> Alert:
    return Alert(
        category=category,
        name=f"{category.value} test",
        severity=Severity.HIGH,
        confidence=0.9,
        ts_start=ts,
        ts_end=ts + 5,
        src=src,
        dst="10.0.0.1",
        counts={"packets": packets},
        evidence={"summary": "seen", "uids": ["C1"]},
        mitre=["T1499"],
    )


PROFILE = {
    "device": "10.1.0.20",
    "state": "active",
    "first_ts": 1000.0,
    "learned_until": 4600.0,
    "flows": 42,
    "peers": ["10.1.0.10"],
    "ports": ["uses tcp/2575"],
    "protocols": ["hl7"],
    "messages": ["hl7:ORU"],
    "peak_flows_per_min": 3,
    "reported": [],
}


def exercise(store: Store) -> None:
    first = [
        alert(Category.DOS, "192.0.2.1", 100.0, 10),
        alert(Category.RECON_PORT_SCAN, "192.0.2.9", 50.0, 3),
    ]
    assert save_alerts(store, [a.to_json() for a in first]) == 2
    # The same episode analysed again (same id) updates its row.
    again = alert(Category.DOS, "192.0.2.1", 100.0, 99)
    assert again.id == first[0].id
    save_alerts(store, [again.to_json()])
    rows = query_alerts(store)
    assert [r["category"] for r in rows] == ["dos", "recon_port_scan"]  # newest first
    assert rows[0]["counts"] == {"packets": 99}
    assert Alert.from_json(rows[0]).id == first[0].id
    assert [r["src"] for r in query_alerts(store, category="recon_port_scan")] == ["192.0.2.9"]
    save_baselines(store, [PROFILE])
    save_baselines(store, [PROFILE | {"flows": 43}])
    assert [p["flows"] for p in load_baselines(store)] == [43]
    assert get_baseline(store, "10.1.0.20")["peers"] == ["10.1.0.10"]  # type: ignore[index]
    assert reset_baseline(store, "10.1.0.20") and not reset_baseline(store, "10.1.0.20")
    assert get_baseline(store, "10.1.0.20") is None


def test_sqlite(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        exercise(store)
    finally:
        store.close()


@pytest.mark.postgres
def test_postgresql(pg_url: str) -> None:
    store = Store(pg_url)
    try:
        exercise(store)
    finally:
        store.close()


def test_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    store = Store(url)
    save_alerts(store, [alert(Category.DOS, "192.0.2.1", 100.0, 10).to_json()])
    save_alerts(store, [alert(Category.BRUTE_FORCE, "192.0.2.7", 200.0, 30).to_json()])
    save_baselines(store, [PROFILE])
    store.close()
    runner = CliRunner()

    out = runner.invoke(app, ["alerts", "--db", url, "--json"], env=WIDE)
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert [r["category"] for r in rows] == ["brute_force", "dos"]

    out = runner.invoke(app, ["alerts", "--db", url, "--category", "dos"], env=WIDE)
    assert out.exit_code == 0 and "192.0.2.1" in out.output and "192.0.2.7" not in out.output

    out = runner.invoke(app, ["alerts", "--db", url, "--category", "nonsense"], env=WIDE)
    assert out.exit_code != 0

    out = runner.invoke(app, ["baseline", "show", "10.1.0.20", "--db", url, "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["ports"] == ["uses tcp/2575"]
    out = runner.invoke(app, ["baseline", "show", "10.1.0.20", "--db", url], env=WIDE)
    assert "hl7:ORU" in out.output and "active" in out.output

    out = runner.invoke(app, ["baseline", "reset", "10.1.0.20", "--db", url])
    assert out.exit_code == 0
    out = runner.invoke(app, ["baseline", "show", "10.1.0.20", "--db", url])
    assert out.exit_code != 0
