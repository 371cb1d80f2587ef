"""See: ``medsentry analyze`` and ``medsentry capture``."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from medsentry.analysis.pipeline import AnalysisStats, Sink
from medsentry.analysis.run import AnalysisRun, analyze_capture
from medsentry.analysis.sinks import alert_json
from medsentry.capture.live import LiveCapture, LiveOptions
from medsentry.cli import app
from medsentry.config import database_url
from medsentry.detect.sinks import CefSyslogSink, EveAlertSink
from medsentry.errors import InputError
from medsentry.inventory.device import Device
from medsentry.store.db import Store

DB_HELP = "Database URL (default: MEDSENTRY_DB, else sqlite:///medsentry.db)."
console = Console(stderr=True)
out = Console()


def _alerts_table(alerts: list[Any]) -> None:
    if not alerts:
        return
    table = Table(title="Alerts (one per attack episode)", title_justify="left")
    for col in ("category", "severity", "source", "targets", "summary"):
        table.add_column(col)
    for alert in alerts[:20]:
        data = alert_json(alert)
        targets = data.get("targets") or {}
        target_text = ", ".join(list(targets)[:3]) + (" …" if len(targets) > 3 else "")
        summary = (data.get("evidence") or {}).get("summary") or data.get("name") or ""
        table.add_row(
            str(data.get("category")),
            str(data.get("severity")),
            str(data.get("src") or "-"),
            target_text or str(data.get("dst") or "-"),
            str(summary)[:80],
        )
    if len(alerts) > 20:
        table.caption = f"{len(alerts) - 20} more: see `medsentry alerts` or alerts.jsonl"
    out.print(table)


def _summary(stats: AnalysisStats, devices: list[Device]) -> None:
    table = Table(title="Analysis summary", show_header=False, title_justify="left")
    span = (stats.last_ts or 0) - (stats.first_ts or 0)
    rate = stats.packets / stats.elapsed if stats.elapsed else 0.0
    rows = [
        ("packets", f"{stats.packets:,} ({stats.ip_packets:,} IP, {stats.arp_packets:,} ARP)"),
        ("bytes", f"{stats.bytes:,}"),
        ("capture span", f"{span:,.1f} s"),
        ("flows", f"{stats.flows:,}"),
        ("devices", f"{len(devices):,}"),
        ("protocol events", f"{stats.events:,} ({stats.phi_events:,} carrying patient data)"),
        ("alerts", f"{stats.alerts:,}"),
        ("IP fragments", f"{stats.fragments:,}"),
        ("speed", f"{rate:,.0f} packets/s in {stats.elapsed:.2f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)
    if devices:
        dev = Table(title="Devices", title_justify="left")
        for col in ("device", "IPs", "vendor", "type", "offers", "peers", "sent"):
            dev.add_column(col)
        ranked = sorted(devices, key=lambda d: -(d.bytes_sent + d.bytes_received))
        for d in ranked[:25]:
            label = d.type if d.type != "unknown" else "-"
            if d.manufacturer or d.model:
                label += f" ({' '.join(x for x in (d.manufacturer, d.model) if x)})"
            dev.add_row(
                d.mac or d.key,
                ", ".join(sorted(d.ips)[:3]) + (" …" if len(d.ips) > 3 else ""),
                (d.vendor or "-")[:28],
                label,
                ", ".join(f"{p}/{n}" for p, n in sorted(d.services)[:4]),
                str(len(d.peers)),
                f"{d.bytes_sent:,}",
            )
        if len(ranked) > 25:
            dev.caption = f"{len(ranked) - 25} more: see `medsentry devices`"
        out.print(dev)


@app.command()
def analyze(
    paths: list[Path] = typer.Argument(..., help="Capture files (pcap or pcapng, gzip ok)."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    out_dir: Path | None = typer.Option(
        None, "--out", help="Write flows/devices/events/alerts JSON lines here."
    ),
    no_protocols: bool = typer.Option(
        False, "--no-protocols", help="Flows and devices only: skip protocol analyzers."
    ),
    no_store: bool = typer.Option(False, "--no-store", help="Do not write to the database."),
    no_detect: bool = typer.Option(False, "--no-detect", help="Skip attack detection."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or tables."),
    eve: Path | None = typer.Option(
        None, "--eve", help="Also write alerts as Suricata eve.json-style lines to this file."
    ),
    syslog: str | None = typer.Option(
        None, "--syslog", help="Also send alerts as CEF over syslog: HOST:PORT[/udp|/tcp]."
    ),
) -> None:
    """Analyse captures: flows, devices, protocol events and alerts."""
    for path in paths:
        if not path.is_file():
            raise InputError(f"{path}: no such capture file")
    store = None if no_store else Store(database_url(db))
    failed = False
    try:
        for path in paths:
            # Several captures: one sub-folder each, so their files do not collide.
            target = out_dir if out_dir is None or len(paths) == 1 else out_dir / path.name
            extra = alert_sinks(eve, syslog)
            failed |= _analyze_one(
                path, store, target, no_protocols, quiet, extra, detect=not no_detect
            )
    finally:
        if store is not None:
            store.close()
    if failed:
        raise typer.Exit(2)


def alert_sinks(eve: Path | None, syslog: str | None) -> list[Sink]:
    """Extra alert outputs for SIEMs: eve.json-style lines and CEF over syslog."""
    sinks: list[Sink] = []
    if eve is not None:
        sinks.append(EveAlertSink(eve))
    if syslog:
        target, _, transport = syslog.partition("/")
        host, _, port = target.rpartition(":")
        if not host or not port.isdigit() or transport not in ("", "udp", "tcp"):
            raise InputError(f"--syslog {syslog!r}: expected HOST:PORT, HOST:PORT/udp or /tcp")
        sinks.append(CefSyslogSink(host, int(port), transport or "udp"))
    return sinks


def _analyze_one(
    path: Path,
    store: Store | None,
    out_dir: Path | None,
    no_protocols: bool,
    quiet: bool,
    extra: Sequence[Sink] = (),
    detect: bool = True,
) -> bool:
    """Analyse one file; True when the file was damaged (results so far were kept)."""
    if quiet:
        result = analyze_capture(
            path,
            store=store,
            out_dir=out_dir,
            protocols=not no_protocols,
            extra_sinks=extra,
            detect=detect,
        )
    else:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[pps]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task(path.name, total=path.stat().st_size, pps="")
            seen = [0]

            def report(position: int, packets: int) -> None:
                seen[0] += packets
                elapsed = progress.tasks[task].elapsed or 1e-9
                progress.update(task, completed=position, pps=f"{seen[0] / elapsed:,.0f} pkt/s")

            result = analyze_capture(
                path,
                store=store,
                out_dir=out_dir,
                protocols=not no_protocols,
                progress=report,
                extra_sinks=extra,
                detect=detect,
            )
        _summary(result.stats, result.devices)
        _alerts_table(result.alerts)
    for error in result.stats.errors:
        typer.echo(f"warning: {error}; results up to that point were kept", err=True)
    return bool(result.stats.errors)


@app.command()
def capture(
    interface: str = typer.Option(..., "--interface", "-i", help="Interface to capture on."),
    bpf: str = typer.Option("", "--filter", "-f", help="BPF capture filter, e.g. 'tcp port 2575'."),
    count: int = typer.Option(0, "--count", "-c", help="Stop after this many packets."),
    duration: float = typer.Option(0.0, "--duration", "-d", help="Stop after this many seconds."),
    write: Path | None = typer.Option(None, "--write", "-w", help="Also save packets to a pcap."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    out_dir: Path | None = typer.Option(None, "--out", help="Write JSON lines here."),
    no_protocols: bool = typer.Option(False, "--no-protocols", help="Flows and devices only."),
    no_store: bool = typer.Option(False, "--no-store", help="Do not write to the database."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No tables at the end."),
    eve: Path | None = typer.Option(None, "--eve", help="Also write eve.json-style alerts."),
    syslog: str | None = typer.Option(
        None, "--syslog", help="Also send alerts as CEF over syslog: HOST:PORT[/udp|/tcp]."
    ),
) -> None:
    """Capture live traffic and analyse it as it arrives; Ctrl-C stops and keeps results."""
    options = LiveOptions(interface=interface, bpf=bpf, max_packets=count, max_seconds=duration)
    live = LiveCapture(options, str(write) if write else None)
    store = None if no_store else Store(database_url(db))
    label = f"live:{interface}:{time.time():.0f}"
    run = AnalysisRun(
        label,
        hashlib.sha256(label.encode()).hexdigest(),
        store=store,
        out_dir=out_dir,
        protocols=not no_protocols,
        extra_sinks=alert_sinks(eve, syslog),
    )
    if not quiet:
        console.print(f"capturing on {interface} (Ctrl-C to stop)")
    try:
        for batch in live.batches():
            if len(batch):
                run.analysis.feed(batch)
            else:
                run.analysis.idle(time.time())
    finally:
        live.close()
    result = run.complete()
    if store is not None:
        store.close()
    if not quiet:
        _summary(result.stats, result.devices)
        _alerts_table(result.alerts)
