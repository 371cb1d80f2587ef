"""Catch: ``medsentry alerts``, ``medsentry baseline show|reset`` and ``medsentry model``."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from medsentry.cli import app
from medsentry.detect.base import Category
from medsentry.errors import InputError
from medsentry.store.existing import open_existing

DB_HELP = "Database URL (default: MEDSENTRY_DB, else sqlite:///medsentry.db)."

baseline_app = typer.Typer(help="Device baselines: what each medical device normally does.")
model_app = typer.Typer(help="The traffic-window classifier trained on CICIoMT2024.")
app.add_typer(baseline_app, name="baseline")
app.add_typer(model_app, name="model")


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@app.command("alerts")
def alerts_command(
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    category: str | None = typer.Option(
        None, "--category", "-c", help="Only this category (e.g. dos, recon_port_scan)."
    ),
    limit: int = typer.Option(200, "--limit", "-n", min=1, max=100_000, help="Rows to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
) -> None:
    """List the alerts in the store, newest first."""
    from medsentry.store.alerts import query_alerts

    if category is not None and category not in {c.value for c in Category}:
        choices = ", ".join(c.value for c in Category)
        raise InputError(f"unknown category {category!r}: choose one of {choices}")
    store = open_existing(db)
    try:
        rows = query_alerts(store, category=category, limit=limit)
    finally:
        store.close()
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row, separators=(",", ":")) + "\n")
        return
    table = Table(title=f"{len(rows)} alert(s)")
    for column in ("first seen", "category", "severity", "name", "source", "target", "counts"):
        table.add_column(column, overflow="fold")
    for row in rows:
        counts = ", ".join(f"{k} {v}" for k, v in list(row["counts"].items())[:3])
        table.add_row(
            _when(row["ts_start"]),
            row["category"],
            row["severity"],
            row["name"],
            row["src"] or "(many)",
            row["dst"] or "",
            counts,
        )
    Console().print(table)


@baseline_app.command("show")
def baseline_show(
    device: str = typer.Argument(..., help="Device address as the baseline knows it (its IP)."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the profile as JSON."),
) -> None:
    """Show what a device's baseline holds."""
    from medsentry.store.alerts import get_baseline, load_baselines

    store = open_existing(db)
    try:
        profile = get_baseline(store, device)
        known = [p["device"] for p in load_baselines(store)] if profile is None else []
    finally:
        store.close()
    if profile is None:
        hint = f" (known: {', '.join(known[:10])})" if known else " (no baselines stored yet)"
        raise InputError(f"no baseline for {device}{hint}")
    if as_json:
        sys.stdout.write(json.dumps(profile, indent=1) + "\n")
        return
    console = Console()
    learned = profile.get("learned_until")
    console.print(
        f"[bold]{device}[/bold]: {profile['state']}, learning since {_when(profile['first_ts'])}"
        + (f", learned until {_when(learned)}" if learned else "")
        + f", {profile['flows']} flows, busiest minute {profile['peak_flows_per_min']} flows"
    )
    for aspect in ("peers", "ports", "protocols", "messages"):
        items = profile.get(aspect, [])
        console.print(f"  {aspect} ({len(items)}): " + ", ".join(items[:40]))
    if profile.get("reported"):
        console.print(f"  already reported: {', '.join(profile['reported'][:20])}")


@baseline_app.command("reset")
def baseline_reset(
    device: str = typer.Argument(..., help="Device address (its IP)."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Forget a device's baseline; it learns again from the next analysis."""
    from medsentry.store.alerts import reset_baseline

    store = open_existing(db)
    try:
        removed = reset_baseline(store, device)
    finally:
        store.close()
    if not removed:
        raise InputError(f"no baseline for {device}: nothing to reset")
    typer.echo(f"baseline of {device} reset; it will be learned again")


@model_app.command("train")
def model_train(
    data: Path | None = typer.Option(None, "--data", help="CICIoMT2024 merged_sample.csv(.gz)."),
    out: Path | None = typer.Option(None, "--out", help="Folder for the model (default: package)."),
    docs: Path | None = typer.Option(None, "--docs", help="Folder for confusion-matrix images."),
) -> None:
    """Train the classifier (seeded, reproducible) and print its held-out scores."""
    from medsentry.detect.ml.train import MODEL_DIR, default_data, train

    path = data or default_data()
    if not path.exists():
        raise InputError(f"no dataset at {path}: pass --data or set MEDSENTRY_CORPUS")
    meta = train(path, out or MODEL_DIR, docs)
    _print_metrics(meta)


@model_app.command("evaluate")
def model_evaluate(
    data: Path | None = typer.Option(None, "--data", help="CICIoMT2024 merged_sample.csv(.gz)."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Score the shipped model again on its held-out rows."""
    from medsentry.detect.ml.infer import load_classifier
    from medsentry.detect.ml.train import default_data, evaluate, prepare

    path = data or default_data()
    if not path.exists():
        raise InputError(f"no dataset at {path}: pass --data or set MEDSENTRY_CORPUS")
    classifier = load_classifier()
    _, F, y, split = prepare(path)
    pred = classifier.model.predict(F[split.test])
    meta = dict(classifier.meta)
    meta["metrics"] = evaluate(y[split.test], pred)
    if as_json:
        sys.stdout.write(json.dumps(meta["metrics"], indent=1) + "\n")
        return
    _print_metrics(meta)


def _print_metrics(meta: dict[str, Any]) -> None:
    console = Console()
    metrics = meta["metrics"]
    console.print(
        "macro-F1: "
        + ", ".join(f"{k} classes {metrics[k]['macro_f1']:.3f}" for k in ("19", "6", "2"))
        + "  (paper, 19 classes: "
        + ", ".join(f"{n} {v}" for n, v in meta["paper_19_class_macro_f1"].items())
        + ")"
    )
    table = Table(title="per-class recall, 19 classes (held-out, grouped split)")
    table.add_column("class")
    table.add_column("recall", justify="right")
    table.add_column("test rows", justify="right")
    for label, recall in metrics["19"]["recall"].items():
        table.add_row(label, f"{recall:.3f}", str(metrics["19"]["support"][label]))
    console.print(table)
