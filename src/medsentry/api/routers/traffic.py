"""Flows (Zeek conn.log fields) and protocol events, paged and filterable."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from medsentry.api.auth.guard import require_viewer
from medsentry.api.paging import Window, paged, window
from medsentry.api.routers import API_PREFIX
from medsentry.api.routers.devices import DeviceKey, find_device, store_of
from medsentry.api.schemas import EventOut, FlowOut, Page, Text, Timestamp
from medsentry.store import repository

router = APIRouter(prefix=API_PREFIX, tags=["traffic"], dependencies=[Depends(require_viewer)])

FlowSort = Literal["ts", "duration", "bytes", "pkts", "orig_h", "resp_h", "resp_p", "proto"]
EventSort = Literal["ts", "protocol", "kind"]
Port = Annotated[int, Query(ge=0, le=65535, description="Either side's port")]
CaptureId = Annotated[int, Query(ge=1, le=2**31 - 1, description="Only this capture's rows")]
Since = Annotated[Timestamp, Query(description="From this time (epoch seconds, inclusive)")]
Until = Annotated[Timestamp, Query(description="Before this time (epoch seconds)")]


def _flows(request: Request, w: Window, sort: FlowSort, **filters: object) -> Page[FlowOut]:
    page = repository.list_flows(
        store_of(request),
        sort=sort,
        desc=w.desc,
        limit=w.limit,
        offset=w.offset,
        **filters,  # type: ignore[arg-type]
    )
    return paged([FlowOut.of(f) for f in page.rows], page.total, w)


@router.get(
    "/flows", response_model=Page[FlowOut], response_model_by_alias=True, summary="List flows"
)
def list_flows(
    request: Request,
    w: Annotated[Window, Depends(window)],
    device: Annotated[Text | None, Query(max_length=64, description="Device key")] = None,
    ip: Annotated[Text | None, Query(max_length=45, description="Either side's IP")] = None,
    proto: Annotated[Text | None, Query(max_length=16, description="tcp, udp, icmp")] = None,
    port: Port | None = None,
    since: Since | None = None,
    until: Until | None = None,
    capture_id: CaptureId | None = None,
    sort: FlowSort = "ts",
) -> Page[FlowOut]:
    if device is not None:
        find_device(store_of(request), device)
    return _flows(
        request,
        w,
        sort,
        device_key=device,
        ip=ip,
        proto=proto,
        port=port,
        since=since,
        until=until,
        capture_id=capture_id,
    )


@router.get(
    "/devices/{key}/flows",
    response_model=Page[FlowOut],
    response_model_by_alias=True,
    summary="A device's flows",
)
def device_flows(
    request: Request,
    key: DeviceKey,
    w: Annotated[Window, Depends(window)],
    since: Since | None = None,
    until: Until | None = None,
    sort: FlowSort = "ts",
) -> Page[FlowOut]:
    find_device(store_of(request), key)
    return _flows(request, w, sort, device_key=key, since=since, until=until)


def _events(request: Request, w: Window, sort: EventSort, **filters: object) -> Page[EventOut]:
    page = repository.list_events(
        store_of(request),
        sort=sort,
        desc=w.desc,
        limit=w.limit,
        offset=w.offset,
        **filters,  # type: ignore[arg-type]
    )
    return paged([EventOut.of(e) for e in page.rows], page.total, w)


@router.get("/events", response_model=Page[EventOut], summary="List protocol events")
def list_events(
    request: Request,
    w: Annotated[Window, Depends(window)],
    uid: Annotated[Text | None, Query(max_length=32, description="Flow uid")] = None,
    protocol: Annotated[Text | None, Query(max_length=16, description="hl7, dicom, mqtt")] = None,
    kind: Annotated[Text | None, Query(max_length=32, description="Event kind")] = None,
    device: Annotated[Text | None, Query(max_length=64, description="Device key")] = None,
    ip: Annotated[Text | None, Query(max_length=45, description="Either side's IP")] = None,
    phi: Annotated[bool | None, Query(description="Only events that did (not) carry PHI")] = None,
    since: Since | None = None,
    until: Until | None = None,
    capture_id: CaptureId | None = None,
    sort: EventSort = "ts",
) -> Page[EventOut]:
    if device is not None:
        find_device(store_of(request), device)
    return _events(
        request,
        w,
        sort,
        uid=uid,
        protocol=protocol,
        kind=kind,
        device_key=device,
        ip=ip,
        phi=phi,
        since=since,
        until=until,
        capture_id=capture_id,
    )


@router.get("/devices/{key}/events", response_model=Page[EventOut], summary="A device's events")
def device_events(
    request: Request,
    key: DeviceKey,
    w: Annotated[Window, Depends(window)],
    protocol: Annotated[Text | None, Query(max_length=16)] = None,
    since: Since | None = None,
    until: Until | None = None,
    sort: EventSort = "ts",
) -> Page[EventOut]:
    find_device(store_of(request), key)
    return _events(request, w, sort, device_key=key, protocol=protocol, since=since, until=until)
