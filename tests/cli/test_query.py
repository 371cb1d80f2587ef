from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import medsentry.cli.query  # noqa: F401  (registers devices and flows on the app)
from medsentry.cli import app, main
from medsentry.cli.query import iso_time, parse_time
from medsentry.flows.record import FlowRecord
from medsentry.inventory.device import Device
from medsentry.store import repository as repo
from medsentry.store.db import Store

WIDE = {"COLUMNS": "300"}  # keep Rich from wrapping table cells in the captured output

PUMP = Device(
    key="mac:02:00:00:00:00:01",
    mac="02:00:00:00:00:01",
    ips={"10.0.0.1"},
    vendor="Acme [Medical]",
    first_seen=1_714_557_600.0,  # 2024-05-01T10:00:00Z
    last_seen=1_714_561_200.0,
    services={("tcp", 2575)},
    peers={"10.0.0.2": 1500, "10.0.0.3": 10},
    bytes_sent=1000,
    bytes_received=510,
    type="infusion_pump",
    manufacturer="BD",
    model="Alaris",
    confidence=0.8,
)
MONITOR = Device(
    key="ip:10.0.0.2",
    mac=None,
    ips={"10.0.0.2"},
    first_seen=1_714_557_000.0,
    last_seen=1_714_557_900.0,
    services={("tcp", 104)},
    type="patient_monitor",
)


def _flow(i: int, orig_h: str, resp_h: str, resp_p: int, proto: str = "tcp") -> FlowRecord:
    return FlowRecord(
        ts=1_714_557_600.0 + i,
        uid=f"Cq{i:010d}",
        orig_h=orig_h,
        orig_p=50_000 + i,
        resp_h=resp_h,
        resp_p=resp_p,
        proto=proto,
        duration=1.25,
        orig_bytes=300 + i,
        resp_bytes=40,
        conn_state="SF",
        history="ShADadFf",
        orig_pkts=4,
        resp_pkts=3,
        orig_ip_bytes=500,
        resp_ip_bytes=200,
        service="hl7" if resp_p == 2575 else None,
    )


FLOWS = [
    _flow(0, "10.0.0.2", "10.0.0.1", 2575),
    _flow(1, "10.0.0.3", "10.0.0.2", 104),
    _flow(2, "10.0.0.9", "10.0.0.53", 53, proto="udp"),
]


def _seed(url: str) -> str:
    store = Store(url)
    capture = repo.record_capture(store, "d" * 64, "/demo.pcap", 10, 1000, None, None)
    repo.save_devices(store, [PUMP, MONITOR], capture)
    repo.save_flows(store, FLOWS, capture)
    store.close()
    return url


@pytest.fixture
def db(tmp_path: Path) -> str:
    return _seed(f"sqlite:///{tmp_path / 'q.db'}")


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=WIDE)
    assert result.exit_code == 0, result.output
    return result.output


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line]


def test_devices_table_shows_inventory_columns(db: str) -> None:
    out = _run("devices", "--db", db)
    for expected in (
        PUMP.key,
        "02:00:00:00:00:01",
        "Acme [Medical]",  # brackets printed, not taken as markup
        "infusion_pump",
        "BD / Alaris",
        "tcp/2575",
        "2024-05-01T10:00:00Z",
        "2024-05-01T11:00:00Z",
        "1.5 kB",
        MONITOR.key,
        "1-2 of 2 devices",
    ):
        assert expected in out
    # Most recently seen first: the pump (11:00) before the monitor (09:45).
    assert out.index(PUMP.key) < out.index(MONITOR.key)


def test_devices_json_lines_match_the_inventory_layout(db: str) -> None:
    rows = _json_lines(_run("devices", "--db", db, "--json", "--sort", "key", "--asc"))
    assert rows == [MONITOR.to_json(), PUMP.to_json()]


def test_devices_filters(db: str) -> None:
    rows = _json_lines(_run("devices", "--db", db, "--json", "--type", "patient_monitor"))
    assert [r["key"] for r in rows] == [MONITOR.key]
    rows = _json_lines(_run("devices", "--db", db, "--json", "--search", "alaris"))
    assert [r["key"] for r in rows] == [PUMP.key]
    rows = _json_lines(_run("devices", "--db", db, "--json", "--limit", "1", "--offset", "1"))
    assert [r["key"] for r in rows] == [MONITOR.key]
    assert "no devices match" in _run("devices", "--db", db, "--search", "nothing-like-it")


def test_flows_table_uses_zeek_field_names(db: str) -> None:
    out = _run("flows", "--db", db)
    for expected in ("id.orig_h", "id.resp_p", "conn_state", "orig_pkts", "1-3 of 3 flows"):
        assert expected in out
    for flow in FLOWS:
        assert flow.uid in out
    assert "2024-05-01T10:00:00Z" in out


def test_a_narrow_terminal_hides_columns_and_says_so(db: str) -> None:
    result = CliRunner().invoke(app, ["devices", "--db", db], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert PUMP.key in result.output
    assert "columns hidden" in result.output
    assert "columns hidden" not in _run("devices", "--db", db)


def test_flows_json_and_filters(db: str) -> None:
    rows = _json_lines(_run("flows", "--db", db, "--json", "--asc"))
    assert rows == [flow.to_zeek() for flow in FLOWS]

    def uids(*args: str) -> list[object]:
        return [r["uid"] for r in _json_lines(_run("flows", "--db", db, "--json", "--asc", *args))]

    assert uids("--device", PUMP.key) == [FLOWS[0].uid]
    assert uids("--ip", "10.0.0.2") == [FLOWS[0].uid, FLOWS[1].uid]
    assert uids("--proto", "udp") == [FLOWS[2].uid]
    assert uids("--port", "104") == [FLOWS[1].uid]
    assert uids("--since", "2024-05-01T10:00:01Z") == [FLOWS[1].uid, FLOWS[2].uid]
    assert uids("--until", str(FLOWS[1].ts)) == [FLOWS[0].uid]
    assert uids("--limit", "1") == [FLOWS[0].uid]


def _main_exit(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["medsentry", *args])
    with pytest.raises(SystemExit) as info:
        main()
    return int(info.value.code or 0)


def test_user_errors_exit_2_with_one_line(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for args, message in (
        (("flows", "--db", db, "--device", "mac:00:00:00:00:00:00"), "no device with key"),
        (("devices", "--db", db, "--sort", "password"), "cannot sort by"),
        (("flows", "--db", db, "--since", "yesterday-ish"), "ISO 8601"),
    ):
        assert _main_exit(monkeypatch, *args) == 2
        err = capsys.readouterr().err
        assert message in err
        assert "Traceback" not in err


def test_a_missing_database_exits_2_without_creating_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    entry = [sys.executable, "-c", "from medsentry.cli import main; main()"]
    for command in ("devices", "flows"):
        done = subprocess.run(
            [*entry, command, "--db", f"sqlite:///{path}"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 2
        assert done.stderr.strip().startswith("error: no database at")
        assert len(done.stderr.strip().splitlines()) == 1
        assert done.stdout == ""
    assert not path.exists()


@pytest.mark.postgres
def test_query_commands_read_postgresql(pg_url: str) -> None:
    _seed(pg_url)
    rows = _json_lines(_run("devices", "--db", pg_url, "--json", "--sort", "key", "--asc"))
    assert [r["key"] for r in rows] == [MONITOR.key, PUMP.key]
    rows = _json_lines(_run("flows", "--db", pg_url, "--json", "--port", "2575"))
    assert [r["uid"] for r in rows] == [FLOWS[0].uid]


def test_time_helpers_round_trip() -> None:
    assert iso_time(1_714_557_600.0) == "2024-05-01T10:00:00Z"
    assert parse_time("2024-05-01T10:00:00Z") == 1_714_557_600.0
    assert parse_time("2024-05-01T12:00:00+02:00") == 1_714_557_600.0
    assert parse_time("2024-05-01T10:00:00") == 1_714_557_600.0  # naive means UTC
    assert parse_time("1714557600.5") == 1_714_557_600.5
    assert parse_time(None) is None
