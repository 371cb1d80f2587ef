"""Write down what was recorded: MANIFEST.md and fake_phi.json beside the fixtures."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from pathlib import Path

from tools.record import plan
from tools.record.fake_phi import PATIENTS, all_planted_strings
from tools.record.plan import HOSTS
from tools.record.scenarios import Recording

# Ports tshark does not map to these protocols by itself.
DECODE_AS = (
    f"tcp.port=={plan.DICOM_PACS_PORT},dicom",
    f"tcp.port=={plan.DICOM_WS_STORE_PORT},dicom",
    f"tcp.port=={plan.HL7_ADT_PORT},hl7",
    f"tcp.port=={plan.HL7_DEVICE_PORT},hl7",
    f"tcp.port=={plan.MQTT_AUTH_PORT},mqtt",
    f"tcp.port=={plan.FHIR_HTTP_PORT},http",
)
PCAP_HEADER = 24
RECORD_HEADER = 16


def count_packets(path: Path) -> int:
    """Packets in a classic little-endian pcap as tcpdump writes it here."""
    data = path.read_bytes()
    offset, count = PCAP_HEADER, 0
    while offset + RECORD_HEADER <= len(data):
        (incl_len,) = struct.unpack_from("<I", data, offset + 8)
        offset += RECORD_HEADER + incl_len
        count += 1
    return count


def planted_in(path: Path) -> list[str]:
    data = path.read_bytes()
    return [s for s in all_planted_strings() if s.encode() in data]


def write_fake_phi(path: Path) -> None:
    path.write_text(json.dumps(all_planted_strings(), indent=2) + "\n")


def _hosts_table() -> list[str]:
    lines = ["| host | IP | MAC | OUI registered to | role |", "| --- | --- | --- | --- | --- |"]
    for h in HOSTS:
        ip = f"{h.ip} (DHCP)" if h.dhcp else h.ip
        lines.append(f"| {h.name} | {ip} | {h.mac} | {h.oui_vendor} | {h.role} |")
    return lines


def _ports_lines() -> list[str]:
    return [
        f"- DICOM: PACS {plan.DICOM_PACS_PORT}, workstation Storage SCP {plan.DICOM_WS_STORE_PORT}",
        f"- HL7 MLLP: {plan.HL7_ADT_PORT} (ADT from the EHR), {plan.HL7_DEVICE_PORT} (device "
        "ORU, not a registered HL7 port)",
        f"- MQTT: {plan.MQTT_OPEN_PORT} (anonymous), {plan.MQTT_AUTH_PORT} (password)",
        f"- HTTP (FHIR): {plan.FHIR_HTTP_PORT}; HTTPS: {plan.HTTPS_PORT}; DNS 53; DHCP 67/68",
        "- tshark needs: " + " ".join(f"`-d {rule}`" for rule in DECODE_AS),
    ]


def _patients_table() -> list[str]:
    lines = [
        "| name (HL7/DICOM) | MRN | birth date | address |",
        "| --- | --- | --- | --- |",
    ]
    for p in PATIENTS:
        lines.append(
            f"| {p.hl7_name} | {p.mrn} | {p.birth_date} / {p.fhir_birth_date} "
            f"| {p.street}, {p.city} |"
        )
    return lines


def write_manifest(directory: Path, recordings: Iterable[Recording]) -> None:
    lines = [
        "# Recorded fixture captures",
        "",
        "Recorded by `make record-demo` (tools/record/) with real software in network",
        "namespaces joined by a Linux bridge, captured on the bridge with tcpdump. All",
        "patients are invented; `fake_phi.json` lists every planted string so that tests",
        "can assert none of them leaks into the store, logs or outputs. Regenerated on every",
        "recording: do not edit by hand.",
        "",
        "## Hosts (10.77.0.0/24, inside namespaces only)",
        "",
        *_hosts_table(),
        "",
        "## Ports",
        "",
        *_ports_lines(),
        "",
        "## Invented patients",
        "",
        *_patients_table(),
        "",
        "## Files",
        "",
    ]
    for rec in recordings:
        path = directory / rec.filename
        if not path.exists():
            continue
        planted = ", ".join(f"`{s}`" for s in planted_in(path)) or "none"
        lines += [
            f"### {rec.filename}",
            "",
            f"{rec.summary}.",
            "",
            f"- packets: {count_packets(path)}, bytes: {path.stat().st_size}",
            f"- tshark display filter that matches (with the rules above): `{rec.display_filter}`",
            f"- fake patient strings present: {planted}",
            "",
        ]
    (directory / "MANIFEST.md").write_text("\n".join(lines))
