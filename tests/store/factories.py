"""Builders of plausible flows and devices for the store tests."""

from __future__ import annotations

from medsentry.flows.record import FlowRecord
from medsentry.inventory.device import Device


def make_flow(i: int, **changes: object) -> FlowRecord:
    """A plausible flow numbered ``i``; ``changes`` override fields."""
    values: dict[str, object] = {
        "ts": 1_700_000_000.0 + i,
        "uid": f"Cflow{i:012d}",
        "orig_h": f"10.0.{(i // 200) % 200}.{i % 200 + 1}",
        "orig_p": 40_000 + i % 20_000,
        "resp_h": "10.1.0.10",
        "resp_p": 104,
        "proto": "tcp",
        "duration": 0.25 * (i % 8),
        "orig_bytes": 100 + i,
        "resp_bytes": 1000 + 2 * i,
        "conn_state": "SF",
        "history": "ShADadFf",
        "orig_pkts": 6,
        "resp_pkts": 5,
        "orig_ip_bytes": 420 + i,
        "resp_ip_bytes": 1300 + 2 * i,
        "orig_l2_addr": "02:00:00:00:00:01",
        "resp_l2_addr": "02:00:00:00:00:02",
        "service": "dicom",
    }
    values.update(changes)
    return FlowRecord(**values)  # type: ignore[arg-type]


def make_device(key: str = "mac:02:00:00:00:00:01", **changes: object) -> Device:
    """A device with counters, services and peers; ``changes`` override fields."""
    values: dict[str, object] = {
        "key": key,
        "mac": key.removeprefix("mac:") if key.startswith("mac:") else None,
        "ips": {"10.0.0.1"},
        "vendor": "Acme Medical",
        "first_seen": 1_700_000_100.0,
        "last_seen": 1_700_000_200.0,
        "services": {("tcp", 104)},
        "uses": {("udp", 53)},
        "peers": {"10.1.0.10": 5000, "10.1.0.53": 200},
        "bytes_sent": 3000,
        "bytes_received": 2200,
        "packets_sent": 30,
        "packets_received": 25,
        "type": "imaging_modality",
        "manufacturer": "Acme",
        "model": "CT-9",
        "confidence": 0.6,
        "evidence": [{"source": "dicom", "ae_title": "CT9_SCANNER"}],
    }
    values.update(changes)
    return Device(**values)  # type: ignore[arg-type]
