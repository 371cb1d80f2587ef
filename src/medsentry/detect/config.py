"""Detector thresholds: defaults in ``thresholds.yaml`` beside this file, validated on load.

Users tune detection by copying that file, editing it and passing it with ``--thresholds``
(or ``MEDSENTRY_THRESHOLDS``). Every value has a unit in its name (``_s`` seconds,
``_pps`` packets per second) and a comment in the YAML file saying what it changes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from medsentry.errors import ConfigError

DEFAULT_THRESHOLDS = Path(__file__).with_name("thresholds.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArpConfig(_Strict):
    enabled: bool = True
    gap_s: float = Field(default=300.0, gt=0)
    binding_ttl_s: float = Field(default=3600.0, gt=0)
    min_conflicts: int = Field(default=1, ge=1)
    gratuitous_storm_min: int = Field(default=30, ge=2)
    flip_flop_min: int = Field(default=4, ge=2)
    sweep_min_targets: int = Field(default=50, ge=2)
    sweep_window_s: float = Field(default=60.0, gt=0)
    max_bindings: int = Field(default=65536, ge=16)


class FloodKind(_Strict):
    min_packets: int = Field(ge=1)
    min_rate_pps: float = Field(gt=0)


class FloodConfig(_Strict):
    enabled: bool = True
    bucket_s: float = Field(default=1.0, gt=0)
    gap_s: float = Field(default=30.0, gt=0)
    syn: FloodKind = FloodKind(min_packets=50, min_rate_pps=50)
    tcp: FloodKind = FloodKind(min_packets=5000, min_rate_pps=1000)
    udp: FloodKind = FloodKind(min_packets=5000, min_rate_pps=2000)
    icmp: FloodKind = FloodKind(min_packets=500, min_rate_pps=200)
    max_reply_ratio: float = Field(default=0.2, ge=0, le=1)
    ddos_min_sources: int = Field(default=20, ge=2)
    max_open: int = Field(default=10000, ge=16)


class ScanConfig(_Strict):
    enabled: bool = True
    window_s: float = Field(default=14400.0, gt=0)
    port_scan_min_ports: int = Field(default=5, ge=2)
    address_scan_min_hosts: int = Field(default=5, ge=2)
    ping_sweep_min_hosts: int = Field(default=16, ge=2)
    ip_proto_scan_min_protocols: int = Field(default=8, ge=2)
    os_scan_min_probe_kinds: int = Field(default=3, ge=1)
    vuln_scan_min_ports: int = Field(default=10, ge=2)
    vuln_scan_min_requests: int = Field(default=3, ge=1)
    max_sources: int = Field(default=20000, ge=16)
    ignore_sources: list[str] = Field(default_factory=list)


class MqttConfig(_Strict):
    enabled: bool = True
    gap_s: float = Field(default=60.0, gt=0)
    window_s: float = Field(default=10.0, gt=0)
    connect_flood_min: int = Field(default=100, ge=2)
    connect_flood_rate_pps: float = Field(default=20.0, gt=0)
    publish_flood_min: int = Field(default=1000, ge=2)
    publish_flood_rate_pps: float = Field(default=200.0, gt=0)
    malformed_min: int = Field(default=1, ge=1)


class BruteForceConfig(_Strict):
    enabled: bool = True
    window_s: float = Field(default=600.0, gt=0)
    min_failures: int = Field(default=10, ge=2)
    ssh_min_attempts: int = Field(default=10, ge=2)
    ssh_max_session_bytes: int = Field(default=6000, ge=0)
    ports: dict[str, list[int]] = Field(
        default_factory=lambda: {"ssh": [22], "telnet": [23], "ftp": [21]}
    )


class DhcpConfig(_Strict):
    enabled: bool = True
    gap_s: float = Field(default=60.0, gt=0)
    window_s: float = Field(default=10.0, gt=0)
    starvation_min_clients: int = Field(default=50, ge=2)
    starvation_min_messages: int = Field(default=200, ge=2)
    known_servers: list[str] = Field(default_factory=list)
    rogue_min_offers: int = Field(default=1, ge=1)


class DicomConfig(_Strict):
    enabled: bool = True
    gap_s: float = Field(default=300.0, gt=0)
    bulk_min_queries: int = Field(default=50, ge=2)
    new_ae_min_queries: int = Field(default=10, ge=1)
    learning_s: float = Field(default=3600.0, ge=0)


class PhiConfig(_Strict):
    enabled: bool = True
    gap_s: float = Field(default=3600.0, gt=0)
    encrypted_ports: list[int] = Field(default_factory=lambda: [443, 2762, 6514, 8883])
    alert_internal: bool = False


class MedicalConfig(_Strict):
    protocols: list[str] = Field(default_factory=lambda: ["hl7", "dicom"])
    devices: list[str] = Field(default_factory=list)


class ExternalConfig(_Strict):
    enabled: bool = True
    gap_s: float = Field(default=3600.0, gt=0)
    learning_s: float = Field(default=3600.0, ge=0)
    max_peers_per_device: int = Field(default=1024, ge=1)


class BaselineConfig(_Strict):
    enabled: bool = True
    learning_s: float = Field(default=3600.0, gt=0)
    min_learning_flows: int = Field(default=20, ge=1)
    gap_s: float = Field(default=600.0, gt=0)
    rate_factor: float = Field(default=10.0, gt=1)
    min_new_items: int = Field(default=1, ge=1)
    max_devices: int = Field(default=4096, ge=1)
    max_items: int = Field(default=256, ge=8)


class ModelConfig(_Strict):
    enabled: bool = True
    window_packets: int = Field(default=10, ge=2)
    min_confidence: float = Field(default=0.9, ge=0, le=1)
    min_windows: int = Field(default=20, ge=1)
    gap_s: float = Field(default=60.0, gt=0)
    sample_every: int = Field(default=128, ge=1)
    max_windows_per_batch: int = Field(default=16, ge=1)
    standalone: bool = False


class DetectConfig(_Strict):
    medical: MedicalConfig = MedicalConfig()
    arp: ArpConfig = ArpConfig()
    flood: FloodConfig = FloodConfig()
    scan: ScanConfig = ScanConfig()
    mqtt: MqttConfig = MqttConfig()
    bruteforce: BruteForceConfig = BruteForceConfig()
    dhcp: DhcpConfig = DhcpConfig()
    dicom: DicomConfig = DicomConfig()
    phi: PhiConfig = PhiConfig()
    external: ExternalConfig = ExternalConfig()
    baseline: BaselineConfig = BaselineConfig()
    model: ModelConfig = ModelConfig()

    def enabled(self, name: str) -> bool:
        section = getattr(self, name, None)
        return bool(getattr(section, "enabled", True))


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def load_config(path: str | Path | None = None) -> DetectConfig:
    """Thresholds from ``path``, ``MEDSENTRY_THRESHOLDS`` or the shipped defaults."""
    chosen = path or os.environ.get("MEDSENTRY_THRESHOLDS") or DEFAULT_THRESHOLDS
    file = Path(chosen)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read thresholds file {file}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: expected a mapping of detector sections at the top level")
    try:
        return DetectConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(
            f"{file}: {_location(first['loc'])}: {first['msg']} "
            f"(compare with the defaults in {DEFAULT_THRESHOLDS})"
        ) from exc
