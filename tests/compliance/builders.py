"""Store states for the compliance tests, written through the real repository functions."""

from __future__ import annotations

import itertools
import time
from typing import Any

from medsentry.flows.record import FlowRecord
from medsentry.inventory.device import Device
from medsentry.protocols.base import ORIG, RESP, ProtocolEvent
from medsentry.store import repository
from medsentry.store.db import Store
from medsentry.store.models.vuln import (
    ComponentRow,
    FindingAuditRow,
    FindingRow,
    KevRow,
    SbomRow,
)

_uids = itertools.count(1)
DAY = 86_400.0
T0 = 1_700_000_000.0


def capture(store: Store, name: str = "test") -> int:
    return repository.record_capture(store, f"sha-{name}", f"{name}.pcap", 10, 1000, T0, T0 + 60)


def device(
    store: Store,
    ip: str,
    *,
    type: str = "unknown",
    manufacturer: str | None = None,
    model: str | None = None,
    vendor: str | None = "Acme Medical",
    offers: set[tuple[str, int]] | None = None,
    uses: set[tuple[str, int]] | None = None,
    capture_id: int | None = None,
) -> str:
    key = f"ip:{ip}"
    dev = Device(
        key=key,
        mac=None,
        ips={ip},
        vendor=vendor,
        first_seen=T0,
        last_seen=T0 + 60,
        services=offers or set(),
        uses=uses or set(),
        type=type,
        manufacturer=manufacturer,
        model=model,
        confidence=0.9 if type != "unknown" else 0.0,
    )
    repository.save_devices(store, [dev], capture_id if capture_id is not None else capture(store))
    return key


def flow(
    store: Store,
    orig: str,
    resp: str,
    port: int,
    *,
    service: str | None = None,
    proto: str = "tcp",
) -> str:
    uid = f"Ctest{next(_uids):010d}"
    record = FlowRecord(
        ts=T0 + next(_uids),
        uid=uid,
        orig_h=orig,
        orig_p=40000 + next(_uids) % 20000,
        resp_h=resp,
        resp_p=port,
        proto=proto,
        duration=1.0,
        orig_bytes=100,
        resp_bytes=100,
        conn_state="SF",
        history="ShADadFf",
        orig_pkts=5,
        resp_pkts=5,
        orig_ip_bytes=300,
        resp_ip_bytes=300,
        service=service,
    )
    repository.save_flows(store, [record], None)
    return uid


def event(
    store: Store,
    uid: str,
    protocol: str,
    kind: str,
    *,
    phi: bool = False,
    direction: int = ORIG,
    **fields: Any,
) -> None:
    ev = ProtocolEvent(
        ts=T0 + next(_uids),
        uid=uid,
        protocol=protocol,
        kind=kind,
        direction=direction,
        fields=fields,
        phi=phi,
    )
    repository.save_events(store, [ev], None)


def hl7_phi(store: Store, sender: str, engine: str, port: int = 2575) -> str:
    """A clear-text HL7 ORU carrying patient data from ``sender`` to ``engine``."""
    uid = flow(store, sender, engine, port, service="hl7")
    event(store, uid, "hl7", "message", phi=True, message_type="ORU", trigger_event="R01")
    return uid


def tls_session(store: Store, client: str, server: str, port: int = 443) -> str:
    uid = flow(store, client, server, port, service="ssl")
    event(store, uid, "tls", "client_hello", sni="ehr.example")
    return uid


def anonymous_mqtt(store: Store, client: str, broker: str) -> str:
    uid = flow(store, client, broker, 1883, service="mqtt")
    event(store, uid, "mqtt", "connect", username_present=False, password_present=False)
    event(store, uid, "mqtt", "connack", direction=RESP, accepted=True, reason_code=0)
    return uid


def authenticated_mqtt(store: Store, client: str, broker: str) -> str:
    uid = flow(store, client, broker, 8883, service="mqtt")
    event(store, uid, "mqtt", "connect", username_present=True, password_present=True)
    event(store, uid, "mqtt", "connack", direction=RESP, accepted=True, reason_code=0)
    return uid


def sbom(
    store: Store,
    *,
    manufacturer: str = "Acme",
    model: str = "Pump-1",
    ntia: bool = True,
    support: bool = True,
    components: int = 2,
    imported_at: float | None = None,
) -> list[int]:
    """An SBOM with components; returns the component ids."""
    quality = {
        "ntia_conformant": ntia,
        "ntia": [
            {"id": "supplier_name", "title": "Supplier name", "passed": ntia},
            {"id": "timestamp", "title": "Timestamp", "passed": True},
        ],
        "fda": [
            {
                "id": "support_level",
                "title": "Level of support",
                "passed": support,
                "missing_count": 0 if support else components,
            },
            {
                "id": "end_of_support",
                "title": "End-of-support date",
                "passed": support,
                "missing_count": 0 if support else components,
            },
        ],
    }
    with store.session() as s:
        row = SbomRow(
            sha256=f"{manufacturer}{model}{time.time_ns()}"[:64],
            format="cyclonedx",
            spec_version="1.5",
            name=model,
            product_version="1.0",
            manufacturer=manufacturer,
            model=model,
            imported_at=imported_at if imported_at is not None else T0,
            component_count=components,
            quality=quality,
        )
        s.add(row)
        s.flush()
        ids = []
        for i in range(components):
            comp = ComponentRow(
                sbom_id=row.id,
                ref=f"pkg:generic/lib{i}@1.{i}",
                name=f"lib{i}",
                version=f"1.{i}",
                purl=f"pkg:generic/lib{i}@1.{i}",
                supplier="Upstream",
                support_level="supported" if support else None,
                end_of_support="2030-01-01" if support else None,
            )
            s.add(comp)
            s.flush()
            ids.append(comp.id)
        return ids


def finding(
    store: Store,
    component_id: int,
    vuln_id: str,
    state: str,
    *,
    first_seen: float = T0,
    fixed_after_days: float | None = None,
    justification: str | None = None,
) -> int:
    with store.session() as s:
        row = FindingRow(
            component_id=component_id,
            advisory_source="csaf",
            advisory_id=f"ADV-{vuln_id}",
            vuln_id=vuln_id,
            method="purl",
            reason="test",
            confidence=1.0,
            state=state,
            justification=justification,
            first_seen=first_seen,
            last_seen=first_seen,
            updated_at=first_seen + (fixed_after_days or 0) * DAY,
        )
        s.add(row)
        s.flush()
        if fixed_after_days is not None:
            s.add(
                FindingAuditRow(
                    finding_id=row.id,
                    finding_key=vuln_id,
                    actor="tester",
                    at=first_seen + fixed_after_days * DAY,
                    old_state="affected",
                    new_state="fixed",
                    origin="cli",
                )
            )
        return row.id


def kev(store: Store, cve: str, due: str = "2024-01-31") -> None:
    with store.session() as s:
        s.add(KevRow(cve_id=cve, vendor_project="Upstream", product="lib", due_date=due, cwes=[]))
