"""Alert output for SIEMs: JSON lines, eve.json-style lines, CEF over syslog UDP and TCP."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

from medsentry.detect.base import Alert, Category, Severity, endpoint, split_endpoint
from medsentry.detect.sinks import (
    CefSyslogSink,
    EveAlertSink,
    JsonlAlertSink,
    alert_to_cef,
    alert_to_eve,
    signature_id,
)


def sample(**kw: object) -> Alert:
    fields: dict[str, object] = {
        "category": Category.DOS,
        "name": "SYN flood",
        "severity": Severity.HIGH,
        "confidence": 0.9,
        "ts_start": 1_700_000_000.25,
        "ts_end": 1_700_000_010.5,
        "src": "192.0.2.10",
        "dst": "198.51.100.5",
        "targets": {"198.51.100.5": 200},
        "protocol": "tcp",
        "counts": {"packets": 200},
        "evidence": {"summary": "200 SYN packets | a=b \\ x", "uids": ["CabcDEF12345"]},
        "mitre": ["T1499.001"],
    }
    fields.update(kw)
    return Alert(**fields)  # type: ignore[arg-type]


def test_endpoints_keep_ipv6_ports_unambiguous() -> None:
    assert endpoint("10.0.0.5", 1883) == "10.0.0.5:1883"
    assert endpoint("::1", 1883) == "[::1]:1883"
    assert split_endpoint("[::1]:1883") == ("::1", 1883)
    assert split_endpoint("10.0.0.5:1883") == ("10.0.0.5", 1883)
    assert split_endpoint("fe80::1") == ("fe80::1", None)
    assert split_endpoint("00:e0:4d:3c:25:7b") == ("00:e0:4d:3c:25:7b", None)


def test_eve_record() -> None:
    eve = alert_to_eve(sample(dst="[2001:db8::1]:443"))
    assert eve["event_type"] == "alert"
    assert eve["timestamp"].startswith("2023-11-14T22:13:20.25")
    assert eve["src_ip"] == "192.0.2.10"
    assert (eve["dest_ip"], eve["dest_port"]) == ("2001:db8::1", 443)
    assert eve["alert"]["signature_id"] == signature_id(Category.DOS)
    assert eve["alert"]["category"] == "dos"
    assert eve["alert"]["severity"] == 1
    assert eve["flow_id"] == "CabcDEF12345"
    assert eve["medsentry"]["counts"] == {"packets": 200}


def test_cef_escaping_and_fields() -> None:
    line = alert_to_cef(sample(name="SYN flood | big"))
    parts = line.split("|")
    assert parts[0] == "CEF:0" and parts[1] == "MedSentry"
    assert "SYN flood \\| big" in line
    assert f"|{signature_id(Category.DOS)}|" in line
    assert "src=192.0.2.10" in line and "dst=198.51.100.5" in line
    assert "msg=200 SYN packets | a\\=b \\\\ x" in line
    assert "cs1=T1499.001" in line
    assert "start=1700000000250" in line


def test_jsonl_and_eve_files_append(tmp_path: Path) -> None:
    jsonl, eve = JsonlAlertSink(tmp_path / "alerts.jsonl"), EveAlertSink(tmp_path / "eve.json")
    for sink in (jsonl, eve):
        sink.flows([])
        sink.alerts([sample(), sample(src="192.0.2.11")])
        sink.close()
    rows = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [r["src"] for r in rows] == ["192.0.2.10", "192.0.2.11"]
    assert Alert.from_json(rows[0]).to_json() == rows[0]
    eves = [json.loads(x) for x in (tmp_path / "eve.json").read_text().splitlines()]
    assert [e["src_ip"] for e in eves] == ["192.0.2.10", "192.0.2.11"]


def test_cef_over_udp() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(5)
    sink = CefSyslogSink("127.0.0.1", server.getsockname()[1], "udp", hostname="sensor1")
    sink.alerts([sample()])
    sink.close()
    data, _ = server.recvfrom(65535)
    server.close()
    text = data.decode()
    assert text.startswith("<107>1 ")  # facility 13, severity 3 (error) for a high alert
    assert " sensor1 medsentry - " in text
    assert "CEF:0|MedSentry|MedSentry|" in text


def test_cef_over_tcp_is_newline_framed() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    received: list[bytes] = []

    def accept() -> None:
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(65535):
                received.append(chunk)

    thread = threading.Thread(target=accept)
    thread.start()
    sink = CefSyslogSink("127.0.0.1", server.getsockname()[1], "tcp")
    sink.alerts([sample(), sample(severity=Severity.LOW)])
    sink.close()
    thread.join(5)
    server.close()
    lines = b"".join(received).decode().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("<107>1 ") and lines[1].startswith("<109>1 ")
