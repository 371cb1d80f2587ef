"""Read-only aggregates for the API and dashboard that the core repository does not
offer: per-device protocol use, peers' device keys, activity over time, overview counts.
Every query is bounded (grouped, limited or indexed) so it stays fast at a million flows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Table,
    and_,
    cast,
    false,
    func,
    or_,
    select,
)

from medsentry.inventory.device import Device
from medsentry.store import repository
from medsentry.store.db import Store
from medsentry.store.repository import CAPTURES, DEVICE_IPS, DEVICES, EVENTS, FLOWS

MAX_BUCKETS = 60
FLOW_PAGE_COLUMNS = (
    "ts",
    "uid",
    "orig_h",
    "orig_p",
    "resp_h",
    "resp_p",
    "proto",
    "service",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
)


@dataclass(frozen=True, slots=True)
class ProtocolCount:
    protocol: str
    kind: str
    count: int
    phi_count: int
    first_ts: float
    last_ts: float


@dataclass(frozen=True, slots=True)
class Series:
    """Counts per equal time bucket: ``start`` of the first bucket, ``width`` seconds."""

    start: float
    width: float
    names: list[str]
    counts: dict[str, list[int]]


@dataclass(frozen=True, slots=True)
class Conversation:
    orig_h: str
    resp_h: str
    protocol: str
    messages: int
    last_ts: float


def device_flow_filter(device: Device) -> ColumnElement[bool]:
    """Flows that involve ``device``: by its IPs, else by its MAC."""
    if device.ips:
        ips = sorted(device.ips)
        return or_(FLOWS.c.orig_h.in_(ips), FLOWS.c.resp_h.in_(ips))
    if device.mac:
        return or_(FLOWS.c.orig_l2_addr == device.mac, FLOWS.c.resp_l2_addr == device.mac)
    return false()


def _bucket(conn: Connection, column: Any, start: float, width: float) -> ColumnElement[Any]:
    offset = (column - start) / width
    if conn.dialect.name == "postgresql":
        return cast(func.floor(offset), Integer)
    return cast(offset, Integer)  # SQLite truncates, which is floor for offsets >= 0


def _span_width(first: float | None, last: float | None, buckets: int) -> tuple[float, float]:
    first = first or 0.0
    last = last if last is not None and last > first else first + 1.0
    return first, (last - first) / buckets * 1.0000001  # the last timestamp stays in range


def protocol_use(store: Store, device: Device, limit: int = 200) -> list[ProtocolCount]:
    with store.engine.connect() as conn:
        uids = select(FLOWS.c.uid).where(device_flow_filter(device))
        rows = conn.execute(
            select(
                EVENTS.c.protocol,
                EVENTS.c.kind,
                func.count(),
                func.sum(cast(EVENTS.c.phi, Integer)),
                func.min(EVENTS.c.ts),
                func.max(EVENTS.c.ts),
            )
            .where(EVENTS.c.uid.in_(uids))
            .group_by(EVENTS.c.protocol, EVENTS.c.kind)
            .order_by(func.count().desc())
            .limit(limit)
        ).all()
    return [ProtocolCount(r[0], r[1], int(r[2]), int(r[3] or 0), r[4], r[5]) for r in rows]


def protocol_series(
    store: Store,
    device: Device,
    buckets: int = 40,
    span: tuple[float, float] | None = None,
) -> Series:
    """The device's protocol events over time, per protocol. ``span`` (first and last
    event time, as :func:`protocol_use` found them) saves a scan of the events."""
    with store.engine.connect() as conn:
        uids = select(FLOWS.c.uid).where(device_flow_filter(device))
        if span is None:
            first, last = conn.execute(
                select(func.min(EVENTS.c.ts), func.max(EVENTS.c.ts)).where(EVENTS.c.uid.in_(uids))
            ).one()
        else:
            first, last = span
        start, width = _span_width(first, last, buckets)
        bucket = _bucket(conn, EVENTS.c.ts, start, width)
        rows = conn.execute(
            select(EVENTS.c.protocol, bucket, func.count())
            .where(EVENTS.c.uid.in_(uids))
            .group_by(EVENTS.c.protocol, bucket)
        ).all()
    return _series(rows, start, width, buckets)


def device_flow_page(store: Store, device: Device, limit: int, offset: int) -> repository.Page[Any]:
    """The device's flows, newest first, with the columns the device page shows."""
    cond = device_flow_filter(device)
    columns = [FLOWS.c[name] for name in FLOW_PAGE_COLUMNS]
    with store.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(FLOWS).where(cond)).scalar_one()
        rows = conn.execute(
            select(*columns)
            .where(cond)
            .order_by(FLOWS.c.ts.desc(), FLOWS.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    return repository.Page(list(rows), int(total))


def recent_device_events(store: Store, device: Device, limit: int) -> list[Any]:
    """The device's newest protocol events: time, protocol, message type, PHI flag."""
    uids = select(FLOWS.c.uid).where(device_flow_filter(device))
    with store.engine.connect() as conn:
        return list(
            conn.execute(
                select(EVENTS.c.ts, EVENTS.c.protocol, EVENTS.c.kind, EVENTS.c.phi)
                .where(EVENTS.c.uid.in_(uids))
                .order_by(EVENTS.c.ts.desc(), EVENTS.c.id.desc())
                .limit(limit)
            ).all()
        )


def _series(rows: Sequence[Any], start: float, width: float, buckets: int) -> Series:
    counts: dict[str, list[int]] = {}
    for name, index, count in rows:
        series = counts.setdefault(str(name), [0] * buckets)
        series[min(max(int(index), 0), buckets - 1)] += int(count)
    names = sorted(counts, key=lambda n: -sum(counts[n]))
    return Series(start, width, names, counts)


def timed_series(
    store: Store,
    table: Table,
    label: ColumnElement[Any] | None,
    buckets: int = 48,
    time_column: str = "ts",
) -> Series:
    """Rows of ``table`` over their time span (``time_column``), per ``label`` value."""
    ts = table.c[time_column]
    with store.engine.connect() as conn:
        first, last = conn.execute(select(func.min(ts), func.max(ts))).one()
        start, width = _span_width(first, last, buckets)
        bucket = _bucket(conn, ts, start, width)
        if label is None:
            found = conn.execute(select(bucket, func.count()).group_by(bucket)).all()
            rows: Sequence[Any] = [("all", index, n) for index, n in found]
        else:
            rows = conn.execute(select(label, bucket, func.count()).group_by(label, bucket)).all()
    return _series(rows, start, width, buckets)


def peer_keys(store: Store, ips: Sequence[str]) -> dict[str, str]:
    """Peer IP -> the key of the stored device that holds it (where one does)."""
    if not ips:
        return {}
    found: dict[str, str] = {}
    with store.engine.connect() as conn:
        for i in range(0, len(ips), 500):
            chunk = list(ips[i : i + 500])
            rows = conn.execute(
                select(DEVICE_IPS.c.ip, DEVICES.c.key)
                .join(DEVICES, DEVICES.c.id == DEVICE_IPS.c.device_id)
                .where(DEVICE_IPS.c.ip.in_(chunk))
            ).all()
            for ip, key in rows:
                found.setdefault(ip, key)
    return found


def totals(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:

        def count(table: Table, *conds: ColumnElement[bool]) -> int:
            return int(
                conn.execute(select(func.count()).select_from(table).where(*conds)).scalar_one()
            )

        return {
            "devices": count(DEVICES),
            "flows": count(FLOWS),
            "events": count(EVENTS),
            "phi_events": count(EVENTS, EVENTS.c.phi.is_(True)),
            "captures": count(CAPTURES),
        }


def count_devices(store: Store, *conds: ColumnElement[bool]) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(DEVICES).where(*conds)).scalar_one()
        )


def devices_by_type(store: Store, limit: int = 20) -> list[tuple[str, int]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(DEVICES.c.type, func.count())
            .group_by(DEVICES.c.type)
            .order_by(func.count().desc(), DEVICES.c.type)
            .limit(limit)
        ).all()
    return [(str(t), int(n)) for t, n in rows]


def phi_conversations(store: Store, limit: int = 10) -> list[Conversation]:
    """Host pairs that exchanged patient data in clear text (events flagged ``phi`` on
    flows without TLS): who talked to whom, over what, how often; never the data."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(
                FLOWS.c.orig_h,
                FLOWS.c.resp_h,
                EVENTS.c.protocol,
                func.count(),
                func.max(EVENTS.c.ts),
            )
            .join(FLOWS, FLOWS.c.uid == EVENTS.c.uid)
            .where(and_(EVENTS.c.phi.is_(True), EVENTS.c.protocol != "tls"))
            .group_by(FLOWS.c.orig_h, FLOWS.c.resp_h, EVENTS.c.protocol)
            .order_by(func.count().desc())
            .limit(limit)
        ).all()
    return [Conversation(r[0], r[1], r[2], int(r[3]), r[4]) for r in rows]


@dataclass(frozen=True, slots=True)
class DeviceLine:
    """One row of the device list: the device's own columns and its IPs, nothing joined
    that the list does not show (peers and services stay on the device page)."""

    key: str
    mac: str | None
    ips: list[str]
    vendor: str | None
    type: str
    manufacturer: str | None
    model: str | None
    confidence: float
    first_seen: float
    last_seen: float
    bytes_sent: int
    bytes_received: int
    packets_sent: int
    packets_received: int


_LINE_COLUMNS = [c for c in DeviceLine.__slots__ if c != "ips"]


def device_lines(
    store: Store,
    type: str | None = None,
    manufacturer: str | None = None,
    search: str | None = None,
    sort: str = "last_seen",
    desc: bool = True,
    limit: int = 50,
    offset: int = 0,
    extra: Sequence[ColumnElement[bool]] = (),
) -> tuple[list[DeviceLine], int]:
    """A page of the device list and the total matching, in two indexed queries plus one
    for the IPs: the list's filters and order are the repository's own (``extra``: more
    conditions on the devices table, such as the risk filter)."""
    conds = [*repository.device_conditions(type, manufacturer, search), *extra]
    order = repository.device_order(sort, desc)
    with store.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(DEVICES).where(*conds)).scalar_one()
        rows = conn.execute(
            select(DEVICES.c.id, *(DEVICES.c[name] for name in _LINE_COLUMNS))
            .where(*conds)
            .order_by(*order)
            .limit(limit)
            .offset(offset)
        ).all()
        ips: dict[int, list[str]] = {}
        if rows:
            found = conn.execute(
                select(DEVICE_IPS.c.device_id, DEVICE_IPS.c.ip).where(
                    DEVICE_IPS.c.device_id.in_([r.id for r in rows])
                )
            ).all()
            for device_id, ip in found:
                ips.setdefault(device_id, []).append(ip)
    lines = [
        DeviceLine(ips=sorted(ips.get(r.id, [])), **{n: getattr(r, n) for n in _LINE_COLUMNS})
        for r in rows
    ]
    return lines, int(total)
