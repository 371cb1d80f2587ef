"""Query the store: ``medsentry devices`` and ``medsentry flows``."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.filesize import decimal
from rich.table import Table
from rich.text import Text

from medsentry.cli import app
from medsentry.flows.record import FlowRecord
from medsentry.inventory.device import Device
from medsentry.output.jsonl import JsonlWriter
from medsentry.store.db import Store
from medsentry.store.existing import open_existing
from medsentry.store.repository import MAX_LIMIT, Page, list_devices, list_flows

DB_HELP = "Database URL (default: MEDSENTRY_DB, else sqlite:///medsentry.db)."


def iso_time(ts: float) -> str:
    """Epoch seconds as an ISO 8601 UTC time."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> float | None:
    """Epoch seconds from epoch seconds or an ISO 8601 time (UTC unless it says otherwise)."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{value!r} is neither epoch seconds nor an ISO 8601 time (2024-05-01T10:00:00Z)"
        ) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _shortlist(items: Sequence[str], keep: int = 3) -> str:
    if len(items) <= keep:
        return ", ".join(items)
    return ", ".join(items[:keep]) + f" +{len(items) - keep}"


def _identity(device: Device) -> str:
    return " / ".join(part for part in (device.manufacturer, device.model) if part)


def _caption(shown: int, total: int, offset: int, noun: str) -> str:
    if shown == 0:
        return f"no {noun} past row {offset} ({total} match)" if total else f"no {noun} match"
    return f"{offset + 1}-{offset + shown} of {total} {noun}"


@dataclass(frozen=True)
class Column:
    """A table column. ``wrap`` columns (names, lists) may wrap to make room; the others
    (keys, addresses, times, numbers) keep their full width so values stay whole.
    On a narrow terminal, columns with a ``drop`` rank are hidden, lowest rank first."""

    header: str
    wrap: bool = False
    numeric: bool = False
    drop: int = 0  # 0: always shown


WRAP_FLOOR = 10  # narrowest a wrapping column is made


def _overhead(count: int) -> int:
    # Rich: one space of padding each side of a cell, one separator between cells, two edges.
    return 3 * count + 1


def _visible(columns: Sequence[Column], natural: Sequence[int], room: int) -> list[int]:
    """Indexes of the columns to show: hide droppable ones until the rest can fit."""
    shown = list(range(len(columns)))
    droppable = sorted((c.drop, i) for i, c in enumerate(columns) if c.drop)

    def needed() -> int:
        return _overhead(len(shown)) + sum(
            min(natural[i], WRAP_FLOOR) if columns[i].wrap else natural[i] for i in shown
        )

    for _, index in droppable:
        if needed() <= room:
            break
        shown.remove(index)
    return shown


def _wrap_width(natural: Sequence[int], wrap: Sequence[bool], budget: int) -> int | None:
    """The widest a wrapping column may be so all fit in ``budget`` (None: no limit)."""
    fixed = sum(w for w, can in zip(natural, wrap, strict=True) if not can)
    flexible = sorted(w for w, can in zip(natural, wrap, strict=True) if can)
    room = budget - fixed
    if not flexible or sum(flexible) <= room:
        return None
    for i, width in enumerate(flexible):  # the narrow ones keep their width
        share = room // (len(flexible) - i)
        if width > share:
            return max(share, WRAP_FLOOR)
        room -= width
    return WRAP_FLOOR  # pragma: no cover - the loop always returns when the sum is too big


def _print_table(
    title: str, columns: Sequence[Column], rows: Iterable[Sequence[str]], caption: str
) -> None:
    cells = [list(row) for row in rows]
    natural = [
        max([len(column.header), *(len(row[i]) for row in cells)])
        for i, column in enumerate(columns)
    ]
    console = Console()
    shown = _visible(columns, natural, console.width)
    hidden = len(columns) - len(shown)
    if hidden:
        caption += f" ({hidden} columns hidden to fit the terminal; --json has every field)"
    cap = _wrap_width(
        [natural[i] for i in shown],
        [columns[i].wrap for i in shown],
        console.width - _overhead(len(shown)),
    )
    table = Table(title=title, caption=caption, header_style="bold", box=box.SIMPLE_HEAD)
    for i in shown:
        column = columns[i]
        table.add_column(
            column.header,
            justify="right" if column.numeric else "left",
            overflow="fold",  # never cut a value off, even on a tiny terminal
            no_wrap=not column.wrap,
            max_width=cap if column.wrap else None,
        )
    for row in cells:
        # Text cells: vendor and model strings may contain brackets Rich would read as markup.
        table.add_row(*(Text(row[i]) for i in shown))
    console.print(table)


T = TypeVar("T")


def _query(db: str | None, run: Callable[[Store], Page[T]]) -> Page[T]:
    """One query against an existing store, closed afterwards."""
    store = open_existing(db)
    try:
        return run(store)
    finally:
        store.close()


def _print_json(objects: Iterable[Mapping[str, Any]]) -> None:
    with JsonlWriter(sys.stdout) as out:
        out.write_all(objects)


@app.command("devices")
def devices_command(
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    type_: str | None = typer.Option(None, "--type", help="Only devices of this type."),
    manufacturer: str | None = typer.Option(None, "--manufacturer", help="Only this maker."),
    search: str | None = typer.Option(
        None, "--search", "-s", help="Part of a key, MAC, IP, vendor, type, maker or model."
    ),
    sort: str = typer.Option("last_seen", "--sort", help="last_seen, first_seen, key, bytes..."),
    ascending: bool = typer.Option(False, "--asc", help="Sort ascending (default: descending)."),
    limit: int = typer.Option(100, "--limit", "-n", min=1, max=MAX_LIMIT, help="Rows to show."),
    offset: int = typer.Option(0, "--offset", min=0, help="Rows to skip."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
) -> None:
    """List the devices in the store."""
    page = _query(
        db,
        lambda store: list_devices(
            store,
            type=type_,
            manufacturer=manufacturer,
            search=search,
            sort=sort,
            desc=not ascending,
            limit=limit,
            offset=offset,
        ),
    )
    if as_json:
        _print_json(device.to_json() for device in page.rows)
        return
    columns = (
        Column("key"),
        Column("MAC", drop=1),  # the key already shows it for devices keyed by MAC
        Column("vendor", wrap=True, drop=5),
        Column("IPs", wrap=True, drop=8),
        Column("type", drop=9),
        Column("manufacturer / model", wrap=True, drop=6),
        Column("offers", wrap=True, drop=3),
        Column("peers", numeric=True, drop=4),
        Column("bytes", numeric=True, drop=7),
        Column("first seen", drop=2),
        Column("last seen", drop=10),
    )
    rows = (
        (
            d.key,
            d.mac or "",
            d.vendor or "",
            _shortlist(sorted(d.ips)),
            d.type,
            _identity(d),
            _shortlist([f"{proto}/{port}" for proto, port in sorted(d.services)], keep=4),
            str(len(d.peers)),
            decimal(d.bytes_sent + d.bytes_received),
            iso_time(d.first_seen),
            iso_time(d.last_seen),
        )
        for d in page.rows
    )
    _print_table("Devices", columns, rows, _caption(len(page.rows), page.total, offset, "devices"))


FLOW_COLUMNS = (
    Column("ts"),
    Column("uid", drop=4),
    Column("id.orig_h"),
    Column("id.orig_p", numeric=True, drop=7),
    Column("id.resp_h"),
    Column("id.resp_p", numeric=True),
    Column("proto", drop=10),
    Column("service", drop=5),
    Column("duration", numeric=True, drop=3),
    Column("orig_bytes", numeric=True, drop=9),
    Column("resp_bytes", numeric=True, drop=8),
    Column("conn_state", drop=6),
    Column("orig_pkts", numeric=True, drop=1),
    Column("resp_pkts", numeric=True, drop=2),
)


def _flow_cells(flow: FlowRecord) -> tuple[str, ...]:
    return (
        iso_time(flow.ts),
        flow.uid,
        flow.orig_h,
        str(flow.orig_p),
        flow.resp_h,
        str(flow.resp_p),
        flow.proto,
        flow.service or "-",
        f"{flow.duration:.3f}",
        str(flow.orig_bytes),
        str(flow.resp_bytes),
        flow.conn_state,
        str(flow.orig_pkts),
        str(flow.resp_pkts),
    )


@app.command("flows")
def flows_command(
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    device: str | None = typer.Option(None, "--device", help="Flows of this device key."),
    ip: str | None = typer.Option(None, "--ip", help="Flows with this IP on either side."),
    proto: str | None = typer.Option(None, "--proto", help="tcp, udp, icmp..."),
    port: int | None = typer.Option(
        None, "--port", min=0, max=65535, help="Flows with this port on either side."
    ),
    since: str | None = typer.Option(None, "--since", help="Start at or after (ISO or epoch)."),
    until: str | None = typer.Option(None, "--until", help="Start before (ISO or epoch)."),
    sort: str = typer.Option("ts", "--sort", help="ts, duration, bytes, pkts, resp_p..."),
    ascending: bool = typer.Option(False, "--asc", help="Sort ascending (default: descending)."),
    limit: int = typer.Option(100, "--limit", "-n", min=1, max=MAX_LIMIT, help="Rows to show."),
    offset: int = typer.Option(0, "--offset", min=0, help="Rows to skip."),
    as_json: bool = typer.Option(
        False, "--json", help="Print Zeek conn.log JSON lines instead of a table."
    ),
) -> None:
    """List the flows in the store, in Zeek conn.log terms."""
    start, end = parse_time(since), parse_time(until)
    page = _query(
        db,
        lambda store: list_flows(
            store,
            device_key=device,
            ip=ip,
            proto=proto,
            port=port,
            since=start,
            until=end,
            sort=sort,
            desc=not ascending,
            limit=limit,
            offset=offset,
        ),
    )
    if as_json:
        _print_json(flow.to_zeek() for flow in page.rows)
        return
    _print_table(
        "Flows",
        FLOW_COLUMNS,
        (_flow_cells(flow) for flow in page.rows),
        _caption(len(page.rows), page.total, offset, "flows"),
    )
