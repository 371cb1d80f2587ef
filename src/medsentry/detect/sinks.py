"""Alerts out to SIEMs: JSON lines, Suricata ``eve.json``-style lines, CEF over syslog.

Each sink follows the pipeline's sink shape (``flows``/``events``/``alerts``/``devices``/
``close``) and only acts on alerts, so it can be attached to an analysis next to the
others. ``alert_to_eve`` and ``alert_to_cef`` are usable on their own.
"""

from __future__ import annotations

import json
import socket
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from medsentry import __version__
from medsentry.detect.base import Alert, Category, Severity, split_endpoint

# Suricata: 1 is the most severe; CEF: 0-10, 10 the most severe.
EVE_SEVERITY = {Severity.CRITICAL: 1, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3}
CEF_SEVERITY = {Severity.CRITICAL: 10, Severity.HIGH: 8, Severity.MEDIUM: 5, Severity.LOW: 3}
SIGNATURE_BASE = 9_100_000  # our signature ids: base + position of the category
SYSLOG_FACILITY_SECURITY = 13  # "log audit"; any facility 0-23 may be chosen


def signature_id(category: Category) -> int:
    """A stable number per category (SIEM rules often key on it)."""
    return SIGNATURE_BASE + list(Category).index(category) + 1


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def _split(text: str | None) -> tuple[str | None, int | None]:
    return split_endpoint(text) if text else (None, None)


def alert_to_eve(alert: Alert) -> dict[str, Any]:
    """One Suricata-style ``eve.json`` alert record."""
    src, sport = _split(alert.src)
    dst, dport = _split(alert.dst)
    uids = alert.uids
    row: dict[str, Any] = {
        "timestamp": _iso(alert.ts_start),
        "event_type": "alert",
        "src_ip": src,
        "dest_ip": dst,
        "proto": (alert.protocol or "").upper() or None,
        "app_proto": alert.protocol,
        "flow_id": uids[0] if uids else None,
        "alert": {
            "action": "allowed",
            "gid": 1,
            "signature_id": signature_id(alert.category),
            "rev": 1,
            "signature": f"MEDSENTRY {alert.name}",
            "category": alert.category.value,
            "severity": EVE_SEVERITY[alert.severity],
            "metadata": {"mitre_technique_id": alert.mitre, "confidence": [alert.confidence]},
        },
        "medsentry": alert.to_json(),
    }
    if sport is not None:
        row["src_port"] = sport
    if dport is not None:
        row["dest_port"] = dport
    return row


def _cef_header(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|")


def _cef_value(value: object) -> str:
    text = str(value)
    text = text.replace("\\", "\\\\").replace("=", "\\=")
    return text.replace("\r", "\\r").replace("\n", "\\n")


def alert_to_cef(alert: Alert) -> str:
    """The alert as one ArcSight Common Event Format line."""
    src, sport = _split(alert.src)
    dst, dport = _split(alert.dst)
    ext: list[tuple[str, object]] = [
        ("rt", int(alert.ts_end * 1000)),
        ("start", int(alert.ts_start * 1000)),
        ("end", int(alert.ts_end * 1000)),
        ("cat", alert.category.value),
        ("externalId", alert.id),
    ]
    if src:
        ext.append(("src" if _is_ip(src) else "smac" if src.count(":") == 5 else "shost", src))
    if sport is not None:
        ext.append(("spt", sport))
    if dst:
        ext.append(("dst" if _is_ip(dst) else "dhost", dst))
    if dport is not None:
        ext.append(("dpt", dport))
    if alert.protocol:
        ext.append(("app", alert.protocol))
    main_count = next(iter(alert.counts.values()), None)
    if isinstance(main_count, int):
        ext.append(("cnt", main_count))
    ext += [
        ("cs1Label", "mitre"),
        ("cs1", ",".join(alert.mitre)),
        ("cfp1Label", "confidence"),
        ("cfp1", round(alert.confidence, 3)),
        ("msg", alert.evidence.get("summary", alert.name)),
    ]
    header = "|".join(
        [
            "CEF:0",
            "MedSentry",
            "MedSentry",
            _cef_header(__version__),
            str(signature_id(alert.category)),
            _cef_header(alert.name),
            str(CEF_SEVERITY[alert.severity]),
        ]
    )
    return header + "|" + " ".join(f"{k}={_cef_value(v)}" for k, v in ext)


def _is_ip(text: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
        return True
    except OSError:
        return False


class _AlertSink:
    """Ignores everything but alerts."""

    def flows(self, records: list[Any]) -> None:
        return None

    def events(self, events: list[Any]) -> None:
        return None

    def devices(self, devices: list[Any]) -> None:
        return None

    def alerts(self, alerts: list[Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        return None


class _LinesSink(_AlertSink):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = self.path.open("a", encoding="utf-8")

    def _line(self, alert: Alert) -> dict[str, Any]:
        raise NotImplementedError

    def alerts(self, alerts: list[Any]) -> None:
        for alert in alerts:
            self._file.write(json.dumps(self._line(alert), separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class JsonlAlertSink(_LinesSink):
    """``alerts.jsonl``: one alert per line, our own fields."""

    def _line(self, alert: Alert) -> dict[str, Any]:
        return alert.to_json()


class EveAlertSink(_LinesSink):
    """Suricata ``eve.json``-style alert lines."""

    def _line(self, alert: Alert) -> dict[str, Any]:
        return alert_to_eve(alert)


class CefSyslogSink(_AlertSink):
    """CEF lines in RFC 5424 syslog messages, over UDP (one datagram each) or TCP
    (newline-delimited, RFC 6587 non-transparent framing)."""

    def __init__(
        self,
        host: str,
        port: int = 514,
        transport: str = "udp",
        facility: int = SYSLOG_FACILITY_SECURITY,
        hostname: str | None = None,
    ) -> None:
        if transport not in ("udp", "tcp"):
            raise ValueError("transport must be 'udp' or 'tcp'")
        self.address = (host, port)
        self.transport = transport
        self.facility = facility
        self.hostname = hostname or socket.gethostname()
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, kind)
        if transport == "tcp":
            self.sock.connect(self.address)

    def message(self, alert: Alert) -> bytes:
        severity = {Severity.CRITICAL: 2, Severity.HIGH: 3, Severity.MEDIUM: 4, Severity.LOW: 5}
        pri = self.facility * 8 + severity[alert.severity]
        stamp = datetime.fromtimestamp(alert.ts_end, UTC).isoformat(timespec="milliseconds")
        msgid = f"{zlib.crc32(alert.category.value.encode()) & 0xFFFF:04x}"
        text = f"<{pri}>1 {stamp} {self.hostname} medsentry - {msgid} - {alert_to_cef(alert)}"
        return text.encode("utf-8")

    def alerts(self, alerts: list[Any]) -> None:
        for alert in alerts:
            data = self.message(alert)
            if self.transport == "udp":
                self.sock.sendto(data, self.address)
            else:
                self.sock.sendall(data + b"\n")

    def close(self) -> None:
        self.sock.close()
