"""Reading and writing the core records: captures, flows, devices and protocol events.

Writes are bulk (Core ``executemany`` in chunks, never one ORM object per row) and
idempotent: every table has a natural key (capture ``sha256``, flow ``uid``, device ``key``,
event ``digest``) and rows are written with ``INSERT .. ON CONFLICT``, so analysing the same
capture twice leaves the same rows behind.

Device counters follow one rule that keeps both promises, "re-analysis does not double" and
"a new capture adds": the caller passes the totals the *current* analysis saw for a device,
with the capture they came from. That contribution is stored per (device, capture) in
``device_captures`` and replaces any earlier contribution of the same capture; the device's
``bytes_*``/``packets_*`` and its ``device_peers`` bytes are the sums over all contributions.
Sets (IPs, services) are unions, ``first_seen``/``last_seen`` the min/max, and identity
(type, manufacturer, model, confidence, evidence) is replaced when the new confidence is at
least the stored one.

Reads return the same dataclasses the pipeline produces (:class:`Device`,
:class:`FlowRecord`, :class:`ProtocolEvent`) in a :class:`Page` with the total match count.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Generic, NamedTuple, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    Table,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import UnaryExpression

from medsentry.errors import InputError, StoreError
from medsentry.flows.record import FlowRecord
from medsentry.inventory.device import Device
from medsentry.output.jsonl import to_jsonable
from medsentry.protocols.base import ORIG, RESP, ProtocolEvent
from medsentry.store.bulk import upsert_rows
from medsentry.store.db import Store
from medsentry.store.models.core import (
    CaptureRun,
    DeviceCapture,
    DeviceIp,
    DevicePeer,
    DeviceRow,
    DeviceService,
    EventRow,
    Flow,
)

CHUNK_ROWS = 5000  # rows per executemany: large enough to amortise, small enough for memory
MAX_LIMIT = 100_000  # page size ceiling for the query helpers

CAPTURES = cast(Table, CaptureRun.__table__)
FLOWS = cast(Table, Flow.__table__)
DEVICES = cast(Table, DeviceRow.__table__)
DEVICE_IPS = cast(Table, DeviceIp.__table__)
DEVICE_SERVICES = cast(Table, DeviceService.__table__)
DEVICE_PEERS = cast(Table, DevicePeer.__table__)
DEVICE_CAPTURES = cast(Table, DeviceCapture.__table__)
EVENTS = cast(Table, EventRow.__table__)

COUNTERS = ("bytes_sent", "bytes_received", "packets_sent", "packets_received")
OFFERS = "offers"
USES = "uses"

T = TypeVar("T")


class Page(NamedTuple, Generic[T]):
    """One page of a query: the rows and how many rows match in all."""

    rows: list[T]
    total: int


@dataclass(frozen=True, slots=True)
class CaptureInfo:
    id: int
    sha256: str
    path: str
    packets: int
    bytes: int
    first_ts: float | None
    last_ts: float | None
    analysed_at: float
    status: str
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sha256": self.sha256,
            "path": self.path,
            "packets": self.packets,
            "bytes": self.bytes,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "analysed_at": self.analysed_at,
            "status": self.status,
            "error": self.error,
        }


class UnknownDeviceError(InputError):
    """A query named a device key the store does not hold."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no device with key {key!r}; `medsentry devices` lists the known keys")


# --------------------------------------------------------------------------- helpers


UpsertInsert = sqlite.Insert | postgresql.Insert


def _insert(conn: Connection, table: Table) -> UpsertInsert:
    """The dialect's INSERT, which knows ``ON CONFLICT``."""
    name = conn.dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    raise StoreError(f"unsupported database {name!r}: use SQLite or PostgreSQL")


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _finite(value: float) -> float:
    # SQLite stores NaN as NULL, which the NOT NULL columns refuse.
    number = float(value)
    return number if math.isfinite(number) else 0.0


def _clip(text: str | None, size: int) -> str | None:
    # PostgreSQL enforces VARCHAR sizes (SQLite does not): clip rather than fail a whole batch.
    return None if text is None else text[:size]


def _check_window(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if offset < 0:
        raise InputError(f"offset must be 0 or more, got {offset}")


def _order_by(
    sorts: Mapping[str, ColumnElement[Any]], sort: str, desc: bool, tiebreak: ColumnElement[Any]
) -> list[UnaryExpression[Any]]:
    """ORDER BY for a named sort key; the id tiebreak keeps pages stable, and NULLs sort
    last on both SQLite and PostgreSQL (their defaults differ)."""
    expr = sorts.get(sort)
    if expr is None:
        raise InputError(f"cannot sort by {sort!r}; choose one of: {', '.join(sorts)}")
    if desc:
        return [expr.desc().nulls_last(), tiebreak.desc()]
    return [expr.asc().nulls_last(), tiebreak.asc()]


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _page(
    conn: Connection, query: Select[Any], order: list[UnaryExpression[Any]], limit: int, offset: int
) -> tuple[Sequence[Row[Any]], int]:
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(query.order_by(*order).limit(limit).offset(offset)).all()
    return rows, int(total)


# --------------------------------------------------------------------------- captures


def record_capture(
    store: Store,
    sha256: str,
    path: str,
    packets: int,
    bytes: int,
    first_ts: float | None,
    last_ts: float | None,
    status: str = "complete",
    error: str | None = None,
) -> int:
    """Record an analysed capture and return its id; the same ``sha256`` again updates
    the row (re-analysis) and returns the same id."""
    if not sha256 or len(sha256) > 64:
        raise ValueError("sha256 must be a non-empty identifier of at most 64 characters")
    values: dict[str, Any] = {
        "sha256": sha256,
        "path": str(path)[-1024:],
        "packets": int(packets),
        "bytes": int(bytes),
        "first_ts": None if first_ts is None else float(first_ts),
        "last_ts": None if last_ts is None else float(last_ts),
        "analysed_at": time.time(),
        "status": status[:32],
        "error": None if error is None else error[:1024],
    }
    with store.engine.begin() as conn:
        stmt = _insert(conn, CAPTURES).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[CAPTURES.c.sha256],
            set_={name: stmt.excluded[name] for name in values if name != "sha256"},
        )
        conn.execute(stmt)
        found = conn.execute(select(CAPTURES.c.id).where(CAPTURES.c.sha256 == sha256))
        return int(found.scalar_one())


def _capture_from_row(row: Row[Any]) -> CaptureInfo:
    return CaptureInfo(
        id=row.id,
        sha256=row.sha256,
        path=row.path,
        packets=row.packets,
        bytes=row.bytes,
        first_ts=row.first_ts,
        last_ts=row.last_ts,
        analysed_at=row.analysed_at,
        status=row.status,
        error=row.error,
    )


def list_captures(store: Store, limit: int = 100, offset: int = 0) -> Page[CaptureInfo]:
    """Analysed captures, most recently analysed first."""
    _check_window(limit, offset)
    order = [CAPTURES.c.analysed_at.desc(), CAPTURES.c.id.desc()]
    with store.engine.connect() as conn:
        rows, total = _page(conn, select(CAPTURES), order, limit, offset)
    return Page([_capture_from_row(r) for r in rows], total)


# --------------------------------------------------------------------------- flows

# Every flows column but ``id``, in the order ``_flow_row`` builds them.
FLOW_COLUMNS = (
    "uid",
    "capture_id",
    "ts",
    "orig_h",
    "orig_p",
    "resp_h",
    "resp_p",
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "history",
    "orig_pkts",
    "resp_pkts",
    "orig_ip_bytes",
    "resp_ip_bytes",
    "orig_l2_addr",
    "resp_l2_addr",
    "missed_bytes",
)
# Columns rewritten when a flow uid is saved again (a later, more complete view of it).
_FLOW_UPDATE = FLOW_COLUMNS[1:]


def _flow_row(flow: FlowRecord, capture_id: int | None) -> tuple[Any, ...]:
    """A flow as a tuple in ``FLOW_COLUMNS`` order.

    Explicit conversions: records built from numpy columns carry numpy scalars, which
    neither sqlite3 nor psycopg bind.
    """
    return (
        str(flow.uid),
        capture_id,
        _finite(flow.ts),
        str(flow.orig_h),
        int(flow.orig_p),
        str(flow.resp_h),
        int(flow.resp_p),
        str(flow.proto)[:16],
        None if flow.service is None else str(flow.service)[:32],
        _finite(flow.duration),
        int(flow.orig_bytes),
        int(flow.resp_bytes),
        str(flow.conn_state)[:8],
        str(flow.history)[:64],
        int(flow.orig_pkts),
        int(flow.resp_pkts),
        int(flow.orig_ip_bytes),
        int(flow.resp_ip_bytes),
        flow.orig_l2_addr,
        flow.resp_l2_addr,
        int(flow.missed_bytes),
    )


def save_flows(store: Store, flows: Iterable[FlowRecord], capture_id: int | None) -> int:
    """Insert or update flows by ``uid``; returns how many distinct uids were written."""
    written = 0
    with store.engine.begin() as conn:
        for chunk in _chunks(flows, CHUNK_ROWS):
            # One row per uid per statement: PostgreSQL refuses to update a row twice.
            rows = {flow.uid: _flow_row(flow, capture_id) for flow in chunk}
            upsert_rows(conn, FLOWS, FLOW_COLUMNS, list(rows.values()), ["uid"], _FLOW_UPDATE)
            written += len(rows)
    return written


def _flow_from_row(row: Row[Any]) -> FlowRecord:
    return FlowRecord(
        ts=row.ts,
        uid=row.uid,
        orig_h=row.orig_h,
        orig_p=row.orig_p,
        resp_h=row.resp_h,
        resp_p=row.resp_p,
        proto=row.proto,
        duration=row.duration,
        orig_bytes=row.orig_bytes,
        resp_bytes=row.resp_bytes,
        conn_state=row.conn_state,
        history=row.history,
        orig_pkts=row.orig_pkts,
        resp_pkts=row.resp_pkts,
        orig_ip_bytes=row.orig_ip_bytes,
        resp_ip_bytes=row.resp_ip_bytes,
        orig_l2_addr=row.orig_l2_addr,
        resp_l2_addr=row.resp_l2_addr,
        service=row.service,
        missed_bytes=row.missed_bytes,
    )


_FLOW_SORTS: dict[str, ColumnElement[Any]] = {
    "ts": FLOWS.c.ts,
    "duration": FLOWS.c.duration,
    "bytes": FLOWS.c.orig_bytes + FLOWS.c.resp_bytes,
    "pkts": FLOWS.c.orig_pkts + FLOWS.c.resp_pkts,
    "orig_h": FLOWS.c.orig_h,
    "resp_h": FLOWS.c.resp_h,
    "resp_p": FLOWS.c.resp_p,
    "proto": FLOWS.c.proto,
}


def _host_conditions(
    conn: Connection, device_key: str | None, ip: str | None
) -> list[ColumnElement[bool]]:
    """Flow conditions for "involves this device" and "involves this IP".

    A device matches through its IPs; a device seen without any IP (ARP-only, say)
    matches through its MAC on either side.
    """
    conds: list[ColumnElement[bool]] = []
    if device_key is not None:
        device = conn.execute(
            select(DEVICES.c.id, DEVICES.c.mac).where(DEVICES.c.key == device_key)
        ).first()
        if device is None:
            raise UnknownDeviceError(device_key)
        ips = list(
            conn.execute(select(DEVICE_IPS.c.ip).where(DEVICE_IPS.c.device_id == device.id))
            .scalars()
            .all()
        )
        if ips:
            conds.append(or_(FLOWS.c.orig_h.in_(ips), FLOWS.c.resp_h.in_(ips)))
        elif device.mac:
            conds.append(
                or_(FLOWS.c.orig_l2_addr == device.mac, FLOWS.c.resp_l2_addr == device.mac)
            )
        else:
            conds.append(FLOWS.c.id.is_(None))  # nothing can match
    if ip is not None:
        conds.append(or_(FLOWS.c.orig_h == ip, FLOWS.c.resp_h == ip))
    return conds


def _time_and_capture(
    table: Table, since: float | None, until: float | None, capture_id: int | None
) -> list[ColumnElement[bool]]:
    """The shared filters of timed records: ``since`` inclusive, ``until`` exclusive."""
    conds: list[ColumnElement[bool]] = []
    if since is not None:
        conds.append(table.c.ts >= since)
    if until is not None:
        conds.append(table.c.ts < until)
    if capture_id is not None:
        conds.append(table.c.capture_id == capture_id)
    return conds


def list_flows(
    store: Store,
    device_key: str | None = None,
    ip: str | None = None,
    proto: str | None = None,
    port: int | None = None,
    since: float | None = None,
    until: float | None = None,
    capture_id: int | None = None,
    sort: str = "ts",
    desc: bool = True,
    limit: int = 100,
    offset: int = 0,
) -> Page[FlowRecord]:
    """Flows matching every given filter. ``port`` matches either side; ``since`` is
    inclusive and ``until`` exclusive on the flow's start time. Sorts: see ``_FLOW_SORTS``."""
    _check_window(limit, offset)
    order = _order_by(_FLOW_SORTS, sort, desc, FLOWS.c.id)
    with store.engine.connect() as conn:
        conds = _host_conditions(conn, device_key, ip)
        if proto is not None:
            conds.append(func.lower(FLOWS.c.proto) == proto.lower())
        if port is not None:
            conds.append(or_(FLOWS.c.orig_p == port, FLOWS.c.resp_p == port))
        conds.extend(_time_and_capture(FLOWS, since, until, capture_id))
        rows, total = _page(conn, select(FLOWS).where(*conds), order, limit, offset)
    return Page([_flow_from_row(r) for r in rows], total)


# --------------------------------------------------------------------------- devices


def _device_values(device: Device) -> dict[str, Any]:
    return {
        "key": device.key,
        "mac": device.mac,
        "vendor": _clip(device.vendor, 256),
        "type": (device.type or "unknown")[:64],
        "manufacturer": _clip(device.manufacturer, 256),
        "model": _clip(device.model, 256),
        "confidence": _finite(device.confidence),
        "first_seen": _finite(device.first_seen),
        "last_seen": _finite(device.last_seen),
        # Recomputed from the per-capture contributions once they are written.
        **dict.fromkeys(COUNTERS, 0),
        "evidence": to_jsonable(list(device.evidence)),
    }


def _upsert_devices(conn: Connection, devices: list[Device]) -> dict[str, int]:
    """Insert or merge the device rows; returns their ids by key."""
    stmt = _insert(conn, DEVICES)
    new, old = stmt.excluded, DEVICES.c
    identity_wins = new.confidence >= old.confidence

    def identity(name: str) -> ColumnElement[Any]:
        return case((identity_wins, new[name]), else_=old[name])

    stmt = stmt.on_conflict_do_update(
        index_elements=[old.key],
        set_={
            "mac": func.coalesce(old.mac, new.mac),
            "vendor": func.coalesce(new.vendor, old.vendor),
            "first_seen": case(
                (new.first_seen < old.first_seen, new.first_seen), else_=old.first_seen
            ),
            "last_seen": case((new.last_seen > old.last_seen, new.last_seen), else_=old.last_seen),
            **{
                name: identity(name)
                for name in ("type", "manufacturer", "model", "confidence", "evidence")
            },
        },
    )
    conn.execute(stmt, [_device_values(d) for d in devices])
    keys = [d.key for d in devices]
    found = conn.execute(select(DEVICES.c.key, DEVICES.c.id).where(DEVICES.c.key.in_(keys)))
    return {key: device_id for key, device_id in found}


def _save_memberships(conn: Connection, devices: list[Device], ids: Mapping[str, int]) -> None:
    """IPs and services only ever join a device: insert the new ones, skip the known."""
    ips = [(ids[d.key], str(ip)) for d in devices for ip in d.ips]
    upsert_rows(conn, DEVICE_IPS, ("device_id", "ip"), ips, ("device_id", "ip"))
    services = [
        (ids[d.key], role, str(proto), int(port))
        for d in devices
        for role, pairs in ((OFFERS, d.services), (USES, d.uses))
        for proto, port in pairs
    ]
    columns = ("device_id", "role", "proto", "port")
    upsert_rows(conn, DEVICE_SERVICES, columns, services, columns)


def _save_contributions(
    conn: Connection, devices: list[Device], ids: Mapping[str, int], capture_id: int
) -> None:
    rows = [
        (
            ids[d.key],
            capture_id,
            *(int(getattr(d, name)) for name in COUNTERS),
            {str(peer): int(count) for peer, count in d.peers.items()},
        )
        for d in devices
    ]
    upsert_rows(
        conn,
        DEVICE_CAPTURES,
        ("device_id", "capture_id", *COUNTERS, "peers"),
        rows,
        ("device_id", "capture_id"),
        (*COUNTERS, "peers"),
    )


def _recompute_totals(conn: Connection, device_ids: list[int]) -> None:
    """Device counters and peer bytes become the sums over their capture contributions."""
    contrib = DEVICE_CAPTURES
    for chunk in _chunks(device_ids, 500):

        def total(name: str) -> Any:
            return (
                select(func.coalesce(func.sum(contrib.c[name]), 0))
                .where(contrib.c.device_id == DEVICES.c.id)
                .scalar_subquery()
            )

        conn.execute(
            update(DEVICES)
            .where(DEVICES.c.id.in_(chunk))
            .values({name: total(name) for name in COUNTERS})
        )
        peer_bytes: dict[tuple[int, str], int] = {}
        for device_id, peers in conn.execute(
            select(contrib.c.device_id, contrib.c.peers).where(contrib.c.device_id.in_(chunk))
        ):
            for peer, count in (peers or {}).items():
                pair = (device_id, peer)
                peer_bytes[pair] = peer_bytes.get(pair, 0) + int(count)
        rows = [(device_id, peer, count) for (device_id, peer), count in peer_bytes.items()]
        for rows_chunk in _chunks(rows, CHUNK_ROWS):
            upsert_rows(
                conn,
                DEVICE_PEERS,
                ("device_id", "peer_ip", "bytes"),
                rows_chunk,
                ("device_id", "peer_ip"),
                ("bytes",),
            )


def save_devices(store: Store, devices: Iterable[Device], capture_id: int) -> int:
    """Merge devices into the store, by ``key``; returns how many were written.

    Each device carries what the analysis of ``capture_id`` saw so far (cumulative
    within that capture). Saving again for the same capture replaces its contribution;
    saving for another capture adds to the totals. See the module docstring.
    """
    latest = {device.key: device for device in devices}  # one row per key per statement
    if not latest:
        return 0
    touched: list[int] = []
    with store.engine.begin() as conn:
        for chunk in _chunks(latest.values(), 1000):
            ids = _upsert_devices(conn, chunk)
            _save_memberships(conn, chunk, ids)
            _save_contributions(conn, chunk, ids, capture_id)
            touched.extend(ids.values())
        _recompute_totals(conn, touched)
    return len(latest)


def _device_from_row(row: DeviceRow) -> Device:
    return Device(
        key=row.key,
        mac=row.mac,
        ips={ip.ip for ip in row.ips},
        vendor=row.vendor,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        services={(s.proto, s.port) for s in row.services if s.role == OFFERS},
        uses={(s.proto, s.port) for s in row.services if s.role == USES},
        peers={p.peer_ip: p.bytes for p in row.peers},
        bytes_sent=row.bytes_sent,
        bytes_received=row.bytes_received,
        packets_sent=row.packets_sent,
        packets_received=row.packets_received,
        type=row.type,
        manufacturer=row.manufacturer,
        model=row.model,
        confidence=row.confidence,
        evidence=list(row.evidence or []),
    )


_DEVICE_SORTS: dict[str, ColumnElement[Any]] = {
    "last_seen": DEVICES.c.last_seen,
    "first_seen": DEVICES.c.first_seen,
    "key": DEVICES.c.key,
    "type": DEVICES.c.type,
    "manufacturer": DEVICES.c.manufacturer,
    "vendor": DEVICES.c.vendor,
    "confidence": DEVICES.c.confidence,
    "bytes": DEVICES.c.bytes_sent + DEVICES.c.bytes_received,
    "packets": DEVICES.c.packets_sent + DEVICES.c.packets_received,
}


def device_conditions(
    type: str | None = None, manufacturer: str | None = None, search: str | None = None
) -> list[ColumnElement[bool]]:
    """The WHERE conditions of :func:`list_devices` (shared with the API's lighter list)."""
    conds: list[ColumnElement[bool]] = []
    if type is not None:
        conds.append(func.lower(DEVICES.c.type) == type.lower())
    if manufacturer is not None:
        conds.append(func.lower(DEVICES.c.manufacturer) == manufacturer.lower())
    if search:
        pattern = _like(search)
        columns = ("key", "mac", "vendor", "type", "manufacturer", "model")
        by_ip = select(DEVICE_IPS.c.device_id).where(DEVICE_IPS.c.ip.ilike(pattern, escape="\\"))
        conds.append(
            or_(
                *(DEVICES.c[name].ilike(pattern, escape="\\") for name in columns),
                DEVICES.c.id.in_(by_ip),
            )
        )
    return conds


def device_order(sort: str = "last_seen", desc: bool = True) -> list[UnaryExpression[Any]]:
    """The ORDER BY of :func:`list_devices` for a named sort key."""
    return _order_by(_DEVICE_SORTS, sort, desc, DEVICES.c.id)


def list_devices(
    store: Store,
    type: str | None = None,
    manufacturer: str | None = None,
    search: str | None = None,
    sort: str = "last_seen",
    desc: bool = True,
    limit: int = 100,
    offset: int = 0,
) -> Page[Device]:
    """Devices matching every given filter. ``type`` and ``manufacturer`` match whole
    values, ignoring case; ``search`` matches part of the key, MAC, vendor, type,
    manufacturer, model or any IP. Sorts: see ``_DEVICE_SORTS``."""
    _check_window(limit, offset)
    order = device_order(sort, desc)
    conds = device_conditions(type, manufacturer, search)
    with store.session() as session:
        total = session.execute(
            select(func.count()).select_from(DEVICES).where(*conds)
        ).scalar_one()
        rows = session.scalars(
            select(DeviceRow).where(*conds).order_by(*order).limit(limit).offset(offset)
        ).all()
        return Page([_device_from_row(r) for r in rows], int(total))


def get_device(store: Store, key: str) -> Device | None:
    """The device stored under ``key``, or None."""
    with store.session() as session:
        row = session.scalars(select(DeviceRow).where(DeviceRow.key == key)).first()
        return None if row is None else _device_from_row(row)


# --------------------------------------------------------------------------- events


def _direction_name(direction: int) -> str:
    return "resp" if direction == RESP else "orig"


def event_digest(event: ProtocolEvent) -> str:
    """The identity of an event: sha1 over its flow uid, time, protocol, kind, direction
    and the canonical JSON of its fields."""
    fields = json.dumps(
        to_jsonable(event.fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    parts = (
        str(event.uid),
        repr(float(event.ts)),
        event.protocol,
        event.kind,
        _direction_name(event.direction),
        fields,
    )
    return hashlib.sha1("\x1f".join(parts).encode(), usedforsecurity=False).hexdigest()


_EVENT_COLUMNS = (
    "capture_id",
    "ts",
    "uid",
    "protocol",
    "kind",
    "direction",
    "phi",
    "fields",
    "digest",
)


def save_events(store: Store, events: Iterable[ProtocolEvent], capture_id: int | None) -> int:
    """Insert events not stored yet (by digest); returns how many distinct events were
    offered (new or already present)."""
    offered = 0
    with store.engine.begin() as conn:
        for chunk in _chunks(events, CHUNK_ROWS):
            rows: dict[str, tuple[Any, ...]] = {}
            for event in chunk:
                digest = event_digest(event)
                rows[digest] = (
                    capture_id,
                    _finite(event.ts),
                    str(event.uid),
                    event.protocol[:16],
                    event.kind[:32],
                    _direction_name(event.direction),
                    bool(event.phi),
                    to_jsonable(event.fields),
                    digest,
                )
            upsert_rows(conn, EVENTS, _EVENT_COLUMNS, list(rows.values()), ["digest"])
            offered += len(rows)
    return offered


def _event_from_row(row: Row[Any]) -> ProtocolEvent:
    return ProtocolEvent(
        ts=row.ts,
        uid=row.uid,
        protocol=row.protocol,
        kind=row.kind,
        direction=RESP if row.direction == "resp" else ORIG,
        fields=dict(row.fields or {}),
        phi=bool(row.phi),
    )


_EVENT_SORTS: dict[str, ColumnElement[Any]] = {
    "ts": EVENTS.c.ts,
    "protocol": EVENTS.c.protocol,
    "kind": EVENTS.c.kind,
}


def list_events(
    store: Store,
    uid: str | None = None,
    protocol: str | None = None,
    kind: str | None = None,
    device_key: str | None = None,
    ip: str | None = None,
    phi: bool | None = None,
    since: float | None = None,
    until: float | None = None,
    capture_id: int | None = None,
    sort: str = "ts",
    desc: bool = True,
    limit: int = 100,
    offset: int = 0,
) -> Page[ProtocolEvent]:
    """Events matching every given filter; ``device_key``/``ip`` select events of flows
    that involve them. Same window and sort rules as :func:`list_flows`."""
    _check_window(limit, offset)
    order = _order_by(_EVENT_SORTS, sort, desc, EVENTS.c.id)
    with store.engine.connect() as conn:
        conds: list[ColumnElement[bool]] = []
        host = _host_conditions(conn, device_key, ip)
        if host:
            conds.append(EVENTS.c.uid.in_(select(FLOWS.c.uid).where(*host)))
        if uid is not None:
            conds.append(EVENTS.c.uid == uid)
        if protocol is not None:
            conds.append(func.lower(EVENTS.c.protocol) == protocol.lower())
        if kind is not None:
            conds.append(EVENTS.c.kind == kind)
        if phi is not None:
            conds.append(EVENTS.c.phi == phi)
        conds.extend(_time_and_capture(EVENTS, since, until, capture_id))
        rows, total = _page(conn, select(EVENTS).where(*conds), order, limit, offset)
    return Page([_event_from_row(r) for r in rows], total)
