"""End to end: the bundled demo capture through the whole pipeline and the CLI."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from medsentry.analysis.pipeline import Analysis
from medsentry.analysis.sinks import JsonlSink
from medsentry.inventory.device import Device

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "src" / "medsentry" / "examples" / "hospital_demo.pcap"
FAKE_PHI = json.loads((ROOT / "tests" / "fixtures" / "captures" / "fake_phi.json").read_text())


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from medsentry.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("demo")
    result = cli("analyze", str(DEMO), "--db", f"sqlite:///{out}/ms.db", "--out", str(out / "o"))
    return out, result


def test_demo_analysis_succeeds_and_summarises(
    demo_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, result = demo_run
    assert result.returncode == 0, result.stderr
    assert "Analysis summary" in result.stdout
    for name in ("flows.jsonl", "devices.jsonl", "events.jsonl", "alerts.jsonl"):
        assert (out / "o" / name).exists()


def test_demo_devices_have_vendors_services_and_identity(
    demo_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = demo_run
    devices = {d["mac"]: d for d in lines(out / "o" / "devices.jsonl")}
    # Every host of the demo network is a device with the vendor of its OUI.
    assert len([m for m in devices if m]) >= 12
    pacs = next(d for d in devices.values() if "10.77.0.10" in d["ips"])
    assert "tcp/11112" in pacs["services"]
    assert pacs["vendor"] and "Dell" in pacs["vendor"]
    broker = next(d for d in devices.values() if "10.77.0.40" in d["ips"])
    assert "tcp/1883" in broker["services"]


def test_demo_events_cover_the_medical_protocols(
    demo_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = demo_run
    events = lines(out / "o" / "events.jsonl")
    protocols = {e["protocol"] for e in events}
    assert {"hl7", "dicom", "mqtt", "http", "dns", "dhcp", "tls"} <= protocols
    flows = {f["uid"]: f for f in lines(out / "o" / "flows.jsonl")}
    assert all(e["uid"] in flows for e in events)
    services = {f["service"] for f in flows.values()}
    assert {"hl7", "dicom", "mqtt"} <= services


def test_no_fake_patient_data_leaks_anywhere(
    demo_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, result = demo_run
    blobs = [result.stdout, result.stderr]
    for path in [*(out / "o").iterdir(), out / "ms.db"]:
        blobs.append(path.read_bytes().decode("latin-1"))
    conn = sqlite3.connect(out / "ms.db")
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'"):
        for row in conn.execute(f'SELECT * FROM "{table}"'):
            blobs.append(repr(row))
    conn.close()
    assert "PID" not in "".join(blobs[:2])
    for secret in FAKE_PHI:
        for blob in blobs:
            assert secret not in blob, f"fake PHI {secret!r} leaked"


def test_reanalysis_does_not_duplicate_rows(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/ms.db"
    counts = []
    for _ in range(2):
        assert cli("analyze", str(DEMO), "--db", db, "--quiet").returncode == 0
        conn = sqlite3.connect(tmp_path / "ms.db")
        counts.append(
            tuple(
                conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("flows", "devices", "events", "captures", "device_ips")
            )
        )
        conn.close()
    assert counts[0] == counts[1]
    assert counts[0][0] > 50 and counts[0][1] >= 12


def test_truncated_capture_keeps_partial_results(tmp_path: Path) -> None:
    data = DEMO.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) * 2 // 3])
    result = cli("analyze", str(cut), "--no-store", "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "cut.pcap" in result.stderr and "byte offset" in result.stderr
    flows = lines(tmp_path / "o" / "flows.jsonl")
    devices = lines(tmp_path / "o" / "devices.jsonl")
    assert flows and devices  # what came before the damage is kept


def test_bad_inputs_give_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = cli("analyze", str(tmp_path / "nope.pcap"), "--no-store")
    assert missing.returncode == 2 and "no such capture file" in missing.stderr
    junk = tmp_path / "junk.pcap"
    junk.write_text("not a capture")
    bad = cli("analyze", str(junk), "--no-store")
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "not a pcap or pcapng" in bad.stderr


def test_pipeline_in_process_matches_file_outputs(tmp_path: Path) -> None:
    analysis = Analysis([JsonlSink(tmp_path)])
    analysis.analyze_file(DEMO)
    stats = analysis.finish()
    devices: list[Device] = analysis.devices()
    assert stats.packets == 1068 and not stats.errors
    assert stats.flows == len(lines(tmp_path / "flows.jsonl"))
    assert {d.key for d in devices} == {d["key"] for d in lines(tmp_path / "devices.jsonl")}


def test_postgres_store_gets_the_same_rows(pg_url: str, tmp_path: Path) -> None:
    assert cli("analyze", str(DEMO), "--db", pg_url, "--quiet").returncode == 0
    assert cli("analyze", str(DEMO), "--db", pg_url, "--quiet").returncode == 0
    from sqlalchemy import create_engine, text

    engine = create_engine(pg_url)
    with engine.connect() as conn:
        flows = conn.execute(text("SELECT COUNT(*) FROM flows")).scalar_one()
        devices = conn.execute(text("SELECT COUNT(*) FROM devices")).scalar_one()
    engine.dispose()
    lite = f"sqlite:///{tmp_path}/ms.db"
    assert cli("analyze", str(DEMO), "--db", lite, "--quiet").returncode == 0
    conn2 = sqlite3.connect(tmp_path / "ms.db")
    assert conn2.execute("SELECT COUNT(*) FROM flows").fetchone()[0] == flows
    assert conn2.execute("SELECT COUNT(*) FROM devices").fetchone()[0] == devices
    conn2.close()


def test_alerts_reach_eve_and_syslog_and_baselines_persist(corpus: Path, tmp_path: Path) -> None:
    import socket

    scan = corpus / "pcaps" / "portscan" / "ppa3_synscan.pcapng"
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(30)
    port = receiver.getsockname()[1]
    db = f"sqlite:///{tmp_path}/ms.db"
    eve = tmp_path / "eve.json"
    result = cli(
        "analyze",
        str(scan),
        "--db",
        db,
        "-q",
        "--eve",
        str(eve),
        "--syslog",
        f"127.0.0.1:{port}/udp",
    )
    assert result.returncode == 0, result.stderr
    line = json.loads(eve.read_text().splitlines()[0])
    assert line["event_type"] == "alert" and line["src_ip"] == "172.16.0.8"
    message = receiver.recv(65535).decode()
    receiver.close()
    assert "CEF:0|" in message and "172.16.0.8" in message
    conn = sqlite3.connect(tmp_path / "ms.db")
    (alerts,) = conn.execute("SELECT COUNT(*) FROM alerts").fetchone()
    conn.close()
    assert alerts == 1
    bad = cli("analyze", str(scan), "--no-store", "-q", "--syslog", "nohostport")
    assert bad.returncode == 2 and "--syslog" in bad.stderr


def test_summary_lists_the_alerts(corpus: Path) -> None:
    scan = corpus / "pcaps" / "portscan" / "ppa3_synscan.pcapng"
    result = cli("analyze", str(scan), "--no-store")
    assert result.returncode == 0, result.stderr
    assert "Alerts (one per attack episode)" in result.stdout
    assert "recon_port_scan" in result.stdout and "172.16.0.8" in result.stdout
