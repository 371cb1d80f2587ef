"""Devices: the inventory list and each device's identity, evidence, protocols and peers."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from medsentry.api import queries
from medsentry.api.auth.guard import require_viewer
from medsentry.api.paging import Window, paged, window
from medsentry.api.risk import OPEN_STATES, PRIORITIES, device_risk, risk_condition
from medsentry.api.routers import API_PREFIX
from medsentry.api.schemas import (
    AlertOut,
    DeviceDetail,
    DeviceSummary,
    FindingOut,
    Page,
    Peer,
    ProtocolUse,
    Service,
    Text,
)
from medsentry.inventory.device import Device
from medsentry.store import alert_triage, repository
from medsentry.store.db import Store
from medsentry.vuln import findings as vuln_findings

router = APIRouter(prefix=API_PREFIX, tags=["devices"], dependencies=[Depends(require_viewer)])

DeviceSort = Literal[
    "last_seen",
    "first_seen",
    "key",
    "type",
    "manufacturer",
    "vendor",
    "confidence",
    "bytes",
    "packets",
]
DeviceKey = Annotated[str, Path(max_length=64, pattern=r"^[^\x00]+$", description="Device key")]
RiskLevel = Literal["P1", "P2", "P3", "P4", "any"]
MAX_PEERS = 500
MAX_FINDINGS = 100
MAX_ALERTS = 20


def store_of(request: Request) -> Store:
    store: Store = request.app.state.ctx.store
    return store


def device_hosts(device: Device) -> list[str]:
    """Every name an alert may use for the device: its IPs, its MAC, its key."""
    return sorted({*device.ips, *([device.mac] if device.mac else []), device.key})


def find_device(store: Store, key: str) -> Device:
    device = repository.get_device(store, key)
    if device is None:
        raise HTTPException(404, f"no device with key {key!r}")
    return device


@router.get("/devices", response_model=Page[DeviceSummary], summary="List devices")
def list_devices(
    request: Request,
    w: Annotated[Window, Depends(window)],
    type: Annotated[Text | None, Query(description="Device type, whole value")] = None,
    manufacturer: Annotated[Text | None, Query(description="Manufacturer, whole value")] = None,
    search: Annotated[
        Text | None, Query(description="Part of a key, MAC, IP, vendor, type, model")
    ] = None,
    risk: Annotated[
        RiskLevel | None,
        Query(description="Highest open finding priority (P1 first); any: some open finding"),
    ] = None,
    sort: DeviceSort = "last_seen",
) -> Page[DeviceSummary]:
    risks = request.app.state.ctx.risks.get()
    lines, total = queries.device_lines(
        store_of(request),
        type=type,
        manufacturer=manufacturer,
        search=search,
        sort=sort,
        desc=w.desc,
        limit=w.limit,
        offset=w.offset,
        extra=[risk_condition(risks, risk)] if risk else (),
    )
    items = [
        DeviceSummary.model_validate(d, from_attributes=True).model_copy(
            update={"risk": device_risk(risks, d.manufacturer, d.model)}
        )
        for d in lines
    ]
    return paged(items, total, w)


def device_findings(store: Store, device: Device) -> list[FindingOut]:
    """The findings of the SBOMs that describe the device: open ones first, by priority."""
    if not device.model:
        return []  # SBOMs are linked to devices by model
    with store.session() as session:
        views = vuln_findings.list_findings(session, device=device.key)
    views.sort(key=lambda v: (v.state not in OPEN_STATES, v.priority or "P9"))
    return [FindingOut.model_validate(v, from_attributes=True) for v in views[:MAX_FINDINGS]]


def device_alerts(store: Store, device: Device, limit: int = MAX_ALERTS) -> list[AlertOut]:
    where = alert_triage.AlertFilter(hosts=device_hosts(device))
    views, _ = alert_triage.list_alerts(store, where, limit=limit, count=False)
    return [AlertOut.model_validate(v, from_attributes=True) for v in views]


def device_detail(store: Store, device: Device) -> DeviceDetail:
    ranked = sorted(device.peers.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_PEERS]
    keys = queries.peer_keys(store, [ip for ip, _ in ranked])
    protocols = queries.protocol_use(store, device)
    findings = device_findings(store, device)
    open_priorities = [
        f.priority for f in findings if f.state in OPEN_STATES and f.priority in PRIORITIES
    ]
    summary = DeviceSummary.of(device).model_copy(
        update={"risk": min(open_priorities) if open_priorities else None}
    )
    return DeviceDetail(
        **summary.model_dump(),
        services=[Service(proto=p, port=n) for p, n in sorted(device.services)],
        uses=[Service(proto=p, port=n) for p, n in sorted(device.uses)],
        peers=[Peer(ip=ip, bytes=n, device_key=keys.get(ip)) for ip, n in ranked],
        evidence=list(device.evidence),
        protocols=[
            ProtocolUse(
                protocol=p.protocol,
                kind=p.kind,
                count=p.count,
                phi_count=p.phi_count,
                first_ts=p.first_ts,
                last_ts=p.last_ts,
            )
            for p in protocols
        ],
        findings=findings,
        alerts=device_alerts(store, device),
    )


@router.get("/devices/{key}", response_model=DeviceDetail, summary="One device in detail")
def get_device(request: Request, key: DeviceKey) -> DeviceDetail:
    store = store_of(request)
    return device_detail(store, find_device(store, key))
