"""Devices: the inventory list and each device's identity, evidence, protocols and peers."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from medsentry.api import queries
from medsentry.api.auth.guard import require_viewer
from medsentry.api.paging import Window, paged, window
from medsentry.api.routers import API_PREFIX
from medsentry.api.schemas import (
    DeviceDetail,
    DeviceSummary,
    Page,
    Peer,
    ProtocolUse,
    Service,
    Text,
)
from medsentry.inventory.device import Device
from medsentry.store import repository
from medsentry.store.db import Store

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
MAX_PEERS = 500


def store_of(request: Request) -> Store:
    store: Store = request.app.state.ctx.store
    return store


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
    sort: DeviceSort = "last_seen",
) -> Page[DeviceSummary]:
    lines, total = queries.device_lines(
        store_of(request),
        type=type,
        manufacturer=manufacturer,
        search=search,
        sort=sort,
        desc=w.desc,
        limit=w.limit,
        offset=w.offset,
    )
    return paged([DeviceSummary.model_validate(d, from_attributes=True) for d in lines], total, w)


def device_detail(store: Store, device: Device) -> DeviceDetail:
    ranked = sorted(device.peers.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_PEERS]
    keys = queries.peer_keys(store, [ip for ip, _ in ranked])
    protocols = queries.protocol_use(store, device)
    return DeviceDetail(
        **DeviceSummary.of(device).model_dump(),
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
    )


@router.get("/devices/{key}", response_model=DeviceDetail, summary="One device in detail")
def get_device(request: Request, key: DeviceKey) -> DeviceDetail:
    store = store_of(request)
    return device_detail(store, find_device(store, key))
