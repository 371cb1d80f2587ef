"""Know: SBOMs, advisories, findings and VEX from the command line."""

from __future__ import annotations

import getpass
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import String, cast, func, or_, select

from medsentry.cli import app
from medsentry.errors import InputError
from medsentry.store.db import Store
from medsentry.store.models.vuln import AdvisoryRow, AffectedProductRow, SbomRow
from medsentry.vuln.io import DocumentError, parse_json, read_bytes

DB_HELP = "Database URL (default: MEDSENTRY_DB, else sqlite:///medsentry.db)."
console = Console()

sbom_app = typer.Typer(
    help="Import SBOMs and check their quality (NTIA, FDA).", no_args_is_help=True
)
advisories_app = typer.Typer(
    help="Import, sync and list security advisories (CSAF, OSV, CVE 5, NVD, KEV, EPSS).",
    no_args_is_help=True,
)
findings_app = typer.Typer(
    help="Vulnerability findings: list (default), match, triage, history.",
    invoke_without_command=True,
)
vex_app = typer.Typer(
    help="Import and export VEX (CycloneDX, CSAF; OpenVEX import).", no_args_is_help=True
)
app.add_typer(sbom_app, name="sbom")
app.add_typer(advisories_app, name="advisories")
app.add_typer(findings_app, name="findings")
app.add_typer(vex_app, name="vex")


@contextmanager
def _store(db: str | None) -> Iterator[Store]:
    store = Store(db)
    try:
        yield store
    finally:
        store.close()


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


# --------------------------------------------------------------------------- sbom


def _quality_table(report: dict[str, Any]) -> None:
    table = Table(title=f"SBOM quality — {report['components']} components")
    table.add_column("Element")
    table.add_column("Result")
    table.add_column("Missing / detail")
    for group in ("ntia", "fda"):
        for check in report[group]:
            passed = check["passed"]
            mark = (
                "[green]ok[/]"
                if passed
                else ("[yellow]n/a[/]" if passed is None else "[red]missing[/]")
            )
            missing = check["missing"]
            detail = (
                f"{check['missing_count']}: "
                + ", ".join(missing[:5])
                + (" …" if check["missing_count"] > 5 else "")
                if missing
                else check["detail"]
            )
            table.add_row(f"{group.upper()}: {check['title']}", mark, detail)
    console.print(table)
    counts = report["flaw_counts"]
    if counts:
        console.print("Flaws: " + ", ".join(f"{code} ×{n}" for code, n in sorted(counts.items())))
        for flaw in report["flaws"][:20]:
            if flaw["severity"] != "info":
                line = f"  {flaw['severity']}: {flaw['component'] or ''}: {flaw['message']}"
                console.print(line, markup=False, highlight=False)


@sbom_app.command("check")
def sbom_check(
    path: Path = typer.Argument(..., help="CycloneDX (JSON/XML) or SPDX (JSON/tag-value) file."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 unless NTIA-conformant."),
) -> None:
    """Grade an SBOM (NTIA minimum elements, FDA additions, matching flaws) without storing it."""
    from medsentry.vuln.sbom.load import load_sbom

    report = load_sbom(path).quality().to_dict()
    if as_json:
        _print_json(report)
    else:
        _quality_table(report)
    if strict and not report["ntia_conformant"]:
        raise typer.Exit(1)


@sbom_app.command("import")
def sbom_import(
    path: Path = typer.Argument(..., help="CycloneDX or SPDX file."),
    manufacturer: str | None = typer.Option(None, help="Device maker (links to inventory)."),
    model: str | None = typer.Option(None, help="Device model (links to inventory)."),
    match: bool = typer.Option(True, "--match/--no-match", help="Match against advisories now."),
    kev_names: bool = typer.Option(
        False, "--kev-names", help="Also open KEV name leads (see `findings match --help`)."
    ),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Store an SBOM (idempotent: the same file twice is stored once) and match it."""
    from medsentry.vuln.findings import match_and_store
    from medsentry.vuln.repository import save_sbom
    from medsentry.vuln.sbom.load import load_sbom

    loaded = load_sbom(path)
    report = loaded.quality()
    with _store(db) as store:
        with store.session() as session:
            row, new = save_sbom(
                session,
                loaded.sbom,
                loaded.sha256,
                quality=report.to_dict(),
                manufacturer=manufacturer,
                model=model,
            )
            sbom_id = row.id
        run = None
        if match:
            with store.session() as session:
                run = match_and_store(session, sbom_ids=[sbom_id], kev_names=kev_names)
    result = {
        "sbom_id": sbom_id,
        "new": new,
        "components": len(loaded.sbom.components),
        "ntia_conformant": report.ntia_conformant,
        "flaws": dict(report.flaw_codes()),
        "findings_new": run.new if run else None,
        "findings_refreshed": run.refreshed if run else None,
        "kev_leads": run.kev_leads if run else None,
    }
    if as_json:
        _print_json(result)
        return
    state = "stored" if new else "already stored"
    console.print(
        f"SBOM {sbom_id} {state}: {result['components']} components, "
        f"NTIA {'conformant' if report.ntia_conformant else 'NOT conformant'}"
    )
    if run is not None:
        console.print(
            f"Matching: {run.new} new findings, {run.refreshed} refreshed, "
            f"{run.closed} closed by newer advisories, {run.kev_leads} KEV name leads"
        )


@sbom_app.command("list")
def sbom_list(
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Stored SBOMs."""
    with _store(db) as store, store.session() as session:
        rows = list(session.scalars(select(SbomRow).order_by(SbomRow.id)))
        data = [
            {
                "id": r.id,
                "format": f"{r.format} {r.spec_version}",
                "name": r.name,
                "manufacturer": r.manufacturer,
                "model": r.model,
                "components": r.component_count,
                "ntia_conformant": (r.quality or {}).get("ntia_conformant"),
            }
            for r in rows
        ]
    if as_json:
        _print_json(data)
        return
    table = Table(title="SBOMs")
    for col in ("id", "format", "name", "manufacturer", "model", "components", "ntia_conformant"):
        table.add_column(col)
    for d in data:
        table.add_row(*(str(d[k]) if d[k] is not None else "" for k in d))
    console.print(table)


# --------------------------------------------------------------------------- advisories


def _summary_lines(summary: Any) -> None:
    d = summary.to_dict()
    a = d["advisories"]
    console.print(
        f"{d['files']} documents: {a['new']} new, {a['updated']} updated, "
        f"{a['unchanged']} unchanged, {a['older_revision_skipped']} older revisions ignored; "
        f"{d['affected_products_written']} affected products, {d['kev_entries']} KEV, "
        f"{d['epss_scores']} EPSS, {d['cve_records']} CVE records"
    )
    if d["validation_issues"]:
        console.print(
            f"{d['validation_issues']} validation findings kept with the advisories "
            "(see `medsentry advisories list --json`)"
        )
    for source, problem in summary.failures:
        console.print(f"[red]skipped[/] {source}: {problem}")


@advisories_app.command("import")
def advisories_import(
    sources: list[str] = typer.Argument(..., help="Files, folders or http(s) URLs."),
    strict: bool = typer.Option(False, "--strict", help="Refuse CSAF failing a mandatory test."),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Import the good files and list the bad ones."
    ),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Import advisories; a batch is all-or-nothing unless --skip-invalid."""
    from medsentry.vuln.advisories.importer import import_paths, parse_document, store_documents
    from medsentry.vuln.advisories.sync import fetch

    urls = [s for s in sources if s.startswith(("http://", "https://"))]
    paths = [s for s in sources if s not in urls]
    started = time.perf_counter()
    with _store(db) as store, store.session() as session:
        docs = []
        failures: list[tuple[str, str]] = []
        for url in urls:
            try:
                docs.append(parse_document(fetch(url), url, strict=strict))
            except DocumentError as exc:
                if not skip_invalid:
                    raise
                failures.append((exc.source, exc.problem))
        summary = store_documents(session, docs) if docs else None
        if paths:
            file_summary = import_paths(session, paths, strict=strict, skip_invalid=skip_invalid)
            summary = _merge(summary, file_summary)
        assert summary is not None
        summary.failures = failures + summary.failures
    elapsed = time.perf_counter() - started
    if as_json:
        _print_json({**summary.to_dict(), "seconds": round(elapsed, 3)})
    else:
        _summary_lines(summary)
        console.print(f"in {elapsed:.2f} s")


def _merge(a: Any, b: Any) -> Any:
    if a is None:
        return b
    for name in (
        "files",
        "new",
        "updated",
        "unchanged",
        "older",
        "products",
        "cves",
        "kev",
        "epss",
    ):
        setattr(b, name, getattr(a, name) + getattr(b, name))
    for kind, n in a.kinds.items():
        b.kinds[kind] = b.kinds.get(kind, 0) + n
    b.reports = a.reports + b.reports
    return b


@advisories_app.command("sync")
def advisories_sync(
    feeds_file: Path | None = typer.Option(
        None, "--feeds", help="YAML feed list (default: built in)."
    ),
    url: list[str] = typer.Option([], "--url", help="Extra document URL to fetch (repeatable)."),
    only: list[str] = typer.Option([], "--only", help="Sync only feeds with these names."),
    strict: bool = typer.Option(False, "--strict"),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Fetch the configured advisory feeds and import what changed."""
    from medsentry.vuln.advisories.sync import Feed, load_feeds, sync_feeds

    feeds = load_feeds(feeds_file) if (feeds_file or not url) else []
    feeds += [Feed(name=f"url-{i + 1}", url=u) for i, u in enumerate(url)]
    if only:
        feeds = [f for f in feeds if f.name in only]
        if not feeds:
            raise InputError(f"no feed named {', '.join(only)}; see the feed list")
    with _store(db) as store:
        results = sync_feeds(store, feeds, strict=strict)
    failed = [r for r in results if r.error]
    if as_json:
        _print_json(
            [
                {
                    "feed": r.feed,
                    "documents": r.documents,
                    "error": r.error,
                    "summary": r.summary.to_dict() if r.summary else None,
                }
                for r in results
            ]
        )
    else:
        for r in results:
            if r.error:
                console.print(f"[red]{r.feed}[/]: {r.error}")
            elif r.summary is not None:
                console.print(f"[bold]{r.feed}[/]:", end=" ")
                _summary_lines(r.summary)
    if failed and len(failed) == len(results):
        raise typer.Exit(2)


@advisories_app.command("list")
def advisories_list(
    source: str | None = typer.Option(None, help="csaf, osv, cve5 or nvd."),
    search: str | None = typer.Option(None, help="Text in id, title, publisher or a CVE id."),
    limit: int = typer.Option(50, "--limit", "-n", min=1),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="JSON, with validation reports."),
) -> None:
    """Stored advisories, newest first."""
    with _store(db) as store, store.session() as session:
        counts = (
            select(AffectedProductRow.advisory_pk, func.count().label("n"))
            .group_by(AffectedProductRow.advisory_pk)
            .subquery()
        )
        query = select(AdvisoryRow, counts.c.n).join(
            counts, counts.c.advisory_pk == AdvisoryRow.id, isouter=True
        )
        if source:
            query = query.where(AdvisoryRow.source == source)
        if search:
            like = f"%{search.lower()}%"
            query = query.where(
                or_(
                    func.lower(AdvisoryRow.advisory_id).like(like),
                    func.lower(AdvisoryRow.title).like(like),
                    func.lower(AdvisoryRow.publisher).like(like),
                    func.lower(cast(AdvisoryRow.cves, String)).like(like),
                )
            )
        rows = session.execute(
            query.order_by(AdvisoryRow.modified.desc(), AdvisoryRow.advisory_id).limit(limit)
        ).all()
        data = [
            {
                "source": a.source,
                "id": a.advisory_id,
                "revision": a.revision,
                "modified": a.modified,
                "title": a.title,
                "cves": a.cves,
                "products": n or 0,
                "validation": a.validation if as_json else None,
            }
            for a, n in rows
        ]
    if as_json:
        _print_json(data)
        return
    table = Table(title=f"Advisories ({len(data)} shown)")
    for col in ("source", "id", "rev", "modified", "products", "CVEs", "title"):
        table.add_column(col)
    for d in data:
        table.add_row(
            d["source"],
            d["id"],
            d["revision"] or "",
            (d["modified"] or "")[:10],
            str(d["products"]),
            str(len(d["cves"])),
            (d["title"] or "")[:60],
        )
    console.print(table)


# --------------------------------------------------------------------------- findings


@findings_app.callback()
def findings_list(
    ctx: typer.Context,
    device: str | None = typer.Option(None, "--device", help="Device id, key, MAC or model."),
    priority: str | None = typer.Option(None, "--priority", help="P1..P4, comma separated."),
    state: str | None = typer.Option(None, "--state", help="affected, not_affected, fixed..."),
    sbom: int | None = typer.Option(None, "--sbom", help="Only this SBOM id."),
    limit: int = typer.Option(200, "--limit", "-n", min=1),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List findings, highest priority first (subcommands: match, set-state, history)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"db": db}
        return
    from medsentry.vuln.findings import list_findings

    with _store(db) as store, store.session() as session:
        views = list_findings(
            session, device=device, priority=priority, state=state, sbom_id=sbom, limit=limit
        )
    if as_json:
        _print_json([v.__dict__ for v in views])
        return
    table = Table(title=f"Findings ({len(views)})")
    for col in ("id", "prio", "vulnerability", "component", "device", "state", "conf", "why"):
        table.add_column(col)
    for v in views:
        table.add_row(
            str(v.id),
            v.priority or "",
            f"{v.vuln_id}\n{v.advisory}" + (f"\n{_kev_line(v)}" if v.kev else ""),
            v.component,
            v.device or "",
            v.state,
            f"{v.confidence:.2f}",
            f"{v.priority_reason or ''}\n{v.reason}",
        )
    console.print(table)


def _kev_line(view: Any) -> str:
    """CISA KEV facts of a finding: remediation due date and ransomware use."""
    parts = ["KEV"]
    if view.kev_due_date:
        parts.append(f"due {view.kev_due_date}")
    if (view.kev_ransomware or "").lower() == "known":
        parts.append("ransomware")
    return " ".join(parts)


def _db(ctx: typer.Context, db: str | None) -> str | None:
    return db or (ctx.obj or {}).get("db")


@findings_app.command("match")
def findings_match(
    ctx: typer.Context,
    sbom: list[int] = typer.Option([], "--sbom", help="Only these SBOM ids (default: all)."),
    unversioned: bool = typer.Option(
        False, "--unversioned", help="Also report components without a version (low confidence)."
    ),
    inventory: bool = typer.Option(
        False,
        "--inventory",
        help="Also match devices seen on the network that have no SBOM, by maker and model "
        "(no firmware version known: low confidence).",
    ),
    kev_names: bool = typer.Option(
        False,
        "--kev-names",
        help="Also open low-confidence leads for components whose vendor and product names "
        "match a CISA KEV entry (KEV gives no versions: the version is not checked).",
    ),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Match stored SBOM components against stored advisories (and KEV names)."""
    from medsentry.vuln.findings import inventory_sboms, match_and_store

    with _store(_db(ctx, db)) as store, store.session() as session:
        run = match_and_store(
            session, sbom_ids=sbom or None, match_unversioned=unversioned, kev_names=kev_names
        )
        if inventory:
            ids = inventory_sboms(session)
            if ids:
                inv = match_and_store(
                    session, sbom_ids=ids, match_unversioned=True, kev_names=kev_names
                )
                console.print(
                    f"inventory: {len(ids)} device models, {inv.new} new findings "
                    f"({inv.kev_leads} KEV name leads)"
                )
    console.print(
        f"{run.components} components × {run.products} affected products: "
        f"{run.matches} matches, {run.kev_leads} KEV name leads, {run.new} new findings, "
        f"{run.refreshed} refreshed, {run.closed} closed"
    )


@findings_app.command("set-state")
def findings_set_state(
    ctx: typer.Context,
    finding_id: int = typer.Argument(..., help="Finding id (see `medsentry findings`)."),
    state: str = typer.Argument(
        ..., help="affected, not_affected, fixed, under_investigation, false_positive"
    ),
    justification: str | None = typer.Option(None, help="Why not affected (VEX justification)."),
    detail: str | None = typer.Option(None, help="Impact statement / analysis detail."),
    comment: str | None = typer.Option(None, help="Note for the audit trail."),
    actor: str = typer.Option(getpass.getuser, help="Who makes the change."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Triage a finding; the change is recorded in the audit trail."""
    from medsentry.vuln.findings import set_state

    with _store(_db(ctx, db)) as store, store.session() as session:
        row = set_state(
            session,
            finding_id,
            state,
            actor=actor,
            justification=justification,
            detail=detail,
            comment=comment,
        )
        console.print(f"finding {row.id}: {row.vuln_id} is now {row.state}")


@findings_app.command("history")
def findings_history(
    ctx: typer.Context,
    finding_id: int = typer.Argument(...),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The audit trail of one finding."""
    from medsentry.vuln.findings import audit_trail

    with _store(_db(ctx, db)) as store, store.session() as session:
        rows = audit_trail(session, finding_id)
        if not rows:
            raise InputError(f"no history for finding {finding_id}")
        if as_json:
            _print_json(
                [
                    {
                        "at": a.at,
                        "actor": a.actor,
                        "old_state": a.old_state,
                        "new_state": a.new_state,
                        "justification": a.justification,
                        "comment": a.comment,
                        "origin": a.origin,
                    }
                    for a in rows
                ]
            )
            return
        table = Table(title=rows[0].finding_key)
        for col in ("when (UTC)", "who", "from", "to", "justification", "comment", "origin"):
            table.add_column(col)
        for a in rows:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(a.at))
            table.add_row(
                when,
                a.actor,
                a.old_state or "",
                a.new_state,
                a.justification or "",
                a.comment or "",
                a.origin,
            )
    console.print(table)


# --------------------------------------------------------------------------- VEX


@vex_app.command("export")
def vex_export(
    fmt: str = typer.Option("cyclonedx", "--format", help="cyclonedx or csaf."),
    sbom: int | None = typer.Option(None, "--sbom", help="Only findings of this SBOM."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default: stdout)."),
    publisher: str = typer.Option("MedSentry user", help="CSAF publisher name."),
    record: bool = typer.Option(
        True,
        "--record/--no-record",
        help="Keep the exported VEX as published compliance evidence (document kind 'vex').",
    ),
    actor: str = typer.Option(getpass.getuser, help="Who publishes it (recorded as evidence)."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Export the findings' states as a VEX document (and record it as published)."""
    from medsentry.vuln.findings import statements_from_findings
    from medsentry.vuln.vex import export_csaf_vex, export_cyclonedx_vex

    if fmt not in ("cyclonedx", "csaf"):
        raise InputError(f"unknown VEX format {fmt!r}; use cyclonedx or csaf")
    with _store(db) as store, store.session() as session:
        statements = statements_from_findings(session, sbom_id=sbom)
        sbom_row = session.get(SbomRow, sbom) if sbom is not None else None
        name = sbom_row.name if sbom_row else None
        version = sbom_row.product_version if sbom_row else None
        vendor = (sbom_row.manufacturer if sbom_row else None) or "unknown vendor"
    if not statements:
        raise InputError("no findings to export; import an SBOM and advisories first")
    if fmt == "cyclonedx":
        doc = export_cyclonedx_vex(statements, product_name=name, product_version=version)
    else:
        doc = export_csaf_vex(
            statements,
            publisher=publisher,
            vendor=vendor,
            title=f"VEX for {name}" if name else "VEX statements",
        )
    text = json.dumps(doc, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"{len(statements)} statements written to {output}", highlight=False)
    if record:
        _record_vex(db, text, output, fmt, sbom, actor)


def _record_vex(
    db: str | None, text: str, output: Path | None, fmt: str, sbom: int | None, actor: str
) -> None:
    """File the exported VEX as a published document for the compliance evaluators."""
    import tempfile

    from medsentry.compliance.attestations import attach_document

    name = output.name if output is not None else f"vex-{fmt}-sbom-{sbom or 'all'}.json"
    with tempfile.TemporaryDirectory(prefix="medsentry-vex-") as folder:
        # attach_document reads a file: the exact bytes published, wherever they went.
        copy = Path(folder) / name
        copy.write_text(text, encoding="utf-8")
        with _store(db) as store, store.session() as session:
            row = attach_document(session, copy, kind="vex", actor=actor, name=name)
            doc_id = row.id
    if output is not None:  # on stdout, the VEX document alone is printed
        console.print(f"recorded as published VEX (document {doc_id})", highlight=False)


@vex_app.command("import")
def vex_import(
    path: Path = typer.Argument(..., help="CycloneDX VEX, CSAF VEX or OpenVEX JSON."),
    actor: str = typer.Option(getpass.getuser, help="Recorded in the audit trail."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Apply a VEX document's statements to matching findings."""
    from medsentry.vuln.findings import apply_vex
    from medsentry.vuln.vex import parse_vex

    statements = parse_vex(parse_json(read_bytes(path), str(path)), str(path))
    with _store(db) as store, store.session() as session:
        result = apply_vex(session, statements, actor=actor)
    console.print(
        f"{result.statements} statements: {result.applied} applied, "
        f"{result.unchanged} already so, {result.unmatched} name no stored finding"
    )
