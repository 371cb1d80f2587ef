"""Prove: ``medsentry compliance``, ``mds2``, ``recalls``, ``readiness`` and ``report``."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from medsentry.cli import app
from medsentry.errors import InputError
from medsentry.store.db import Store
from medsentry.store.existing import open_existing

DB_HELP = "Database URL (default: MEDSENTRY_DB, else sqlite:///medsentry.db)."
PROFILE_HELP = "hospital or manufacturer"
STATUS_STYLE = {
    "pass": "green",
    "partial": "yellow",
    "fail": "red",
    "not_assessed": "dim",
    "not_applicable": "dim",
    "contradiction": "red",
    "consistent": "green",
}

out = Console(soft_wrap=True)  # long lines stay whole, for pipes and logs
err = Console(stderr=True)

compliance_app = typer.Typer(help="Evaluate controls against the store; record attestations.")
mds2_app = typer.Typer(help="MDS2 forms: import, declared-versus-observed diff, draft export.")
recalls_app = typer.Typer(help="openFDA device recalls and enforcement reports.")
app.add_typer(compliance_app, name="compliance")
app.add_typer(mds2_app, name="mds2")
app.add_typer(recalls_app, name="recalls")


def _actor(value: str | None) -> str:
    if value:
        return value
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "medsentry"


def _styled(status: str) -> str:
    style = STATUS_STYLE.get(status, "")
    return f"[{style}]{status}[/{style}]" if style else status


def _json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _store(db: str | None) -> Store:
    return open_existing(db)


# --------------------------------------------------------------------------- compliance


@compliance_app.command("assess")
def compliance_assess(
    profile: str = typer.Option(..., "--profile", "-p", help=PROFILE_HELP),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
    save: bool = typer.Option(True, "--save/--no-save", help="Keep the result in the store."),
    by: str | None = typer.Option(None, "--by", help="Who runs it (default: current user)."),
) -> None:
    """Evaluate every control of a profile against the store's evidence."""
    from medsentry.compliance.evaluators import assess
    from medsentry.compliance.status import save_assessment

    store = _store(db)
    try:
        with store.session() as session:
            result = assess(session, profile)
            if save:
                save_assessment(session, result, _actor(by))
    finally:
        store.close()
    if as_json:
        _json(
            {
                "id": result.id,
                "profile": profile,
                "summary": result.summary(),
                "results": [r.to_json() for r in result.results],
            }
        )
        return
    table = Table(title=f"{profile} profile: score {result.score():.0f}%", box=box.SIMPLE)
    for column in ("framework", "pass", "partial", "fail", "not assessed"):
        table.add_column(column, justify="right" if column != "framework" else "left")
    for results in result.by_catalogue().values():
        statuses = [r.status.value for r in results]
        table.add_row(
            results[0].catalogue.short_title,
            str(statuses.count("pass")),
            str(statuses.count("partial")),
            str(statuses.count("fail")),
            str(statuses.count("not_assessed")),
        )
    out.print(table)
    failing = [r for r in result.results if r.status.value == "fail"]
    for r in failing:
        out.print(f"[red]fail[/red] {r.control.id} {r.control.title}: {r.summary[:200]}")
    if save:
        out.print(f"kept as assessment {result.id}; see `medsentry compliance show -p {profile}`")


@compliance_app.command("show")
def compliance_show(
    profile: str = typer.Option("hospital", "--profile", "-p", help=PROFILE_HELP),
    control: str | None = typer.Option(None, "--control", "-c", help="One control in detail."),
    controls: bool = typer.Option(False, "--controls", help="List the profile's controls."),
    history_: bool = typer.Option(False, "--history", help="Kept assessments, newest first."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show the newest kept assessment, a control's detail and attestation trail, or the list
    of controls."""
    from medsentry.compliance.attestations import history, verify_chain
    from medsentry.compliance.catalogue import find_control, load_profile
    from medsentry.compliance.status import assessment_history, latest_assessment

    if controls:
        rows: list[dict[str, Any]] = [
            {
                "id": c.id,
                "title": c.title,
                "reference": c.reference,
                "status": c.status,
                "evidence": [e.evaluator for e in c.evidence],
                "attestation": c.attestation,
            }
            for cat in load_profile(profile)
            for c in cat.controls
        ]
        if as_json:
            _json(rows)
            return
        table = Table(box=box.SIMPLE)
        for column in ("control", "title", "reference", "evidence"):
            table.add_column(column)
        for row in rows:
            evidence = ", ".join(row["evidence"]) or "attestation"
            table.add_row(str(row["id"]), str(row["title"]), str(row["reference"]), evidence)
        out.print(table)
        return
    store = _store(db)
    try:
        with store.session() as session:
            if control is not None:
                _, catalogue, spec = find_control(control)
                trail = history(session, control)
                latest = latest_assessment(session, profile)
                result = next(
                    (r for r in (latest or {}).get("results", []) if r["control"] == control), None
                )
                problems = verify_chain(session)
                payload = {
                    "control": spec.model_dump(),
                    "catalogue": catalogue.id,
                    "latest_result": result,
                    "attestations": [a.__dict__ for a in trail],
                    "trail_intact": not problems,
                    "trail_problems": problems,
                }
                if as_json:
                    _json(payload)
                    return
                out.print(f"[bold]{spec.id}[/bold] {spec.title} ({spec.reference})")
                out.print(spec.text)
                if result:
                    out.print(f"status: {_styled(result['status'])} - {result['summary']}")
                    for e in result["evidence"]:
                        for item in e.get("items", [])[:20]:
                            out.print(f"  - {item}")
                for a in trail:
                    out.print(
                        f"attested {a.answer} by {a.actor} at {a.at:.0f}: {a.comment}"
                        + (f" [document {a.document_name}]" if a.document_name else "")
                    )
                if problems:
                    err.print("[red]attestation trail broken:[/red] " + "; ".join(problems))
                return
            if history_:
                rows = assessment_history(session, profile)
                if as_json:
                    _json(rows)
                    return
                for row in rows:
                    out.print(
                        f"{row['id']}: at {row['at']:.0f} by {row['actor']}, "
                        f"score {row.get('score')}"
                    )
                return
            latest = latest_assessment(session, profile)
    finally:
        store.close()
    if latest is None:
        raise InputError(
            f"no kept assessment for {profile}: run `medsentry compliance assess -p {profile}`"
        )
    if as_json:
        _json(latest)
        return
    table = Table(title=f"{profile}: assessment {latest['id']}", box=box.SIMPLE)
    for column in ("control", "status", "summary"):
        table.add_column(column)
    for r in latest["results"]:
        table.add_row(r["control"], _styled(r["status"]), r["summary"][:140])
    out.print(table)


@compliance_app.command("attest")
def compliance_attest(
    control: str = typer.Argument(..., help="Control id (see `compliance show --controls`)."),
    answer: str = typer.Option(
        ..., "--answer", "-a", help="pass, partial, fail, not_applicable or withdrawn"
    ),
    comment: str = typer.Option(..., "--comment", "-m", help="What backs the answer."),
    by: str | None = typer.Option(None, "--by", help="Who attests (default: current user)."),
    document: Path | None = typer.Option(None, "--document", "-d", help="A file to attach."),
    kind: str = typer.Option("other", "--kind", help="Kind of the attached document."),
    valid_days: float | None = typer.Option(None, "--valid-days", help="Expires after N days."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Record a person's answer for a control, with a comment and optionally a document."""
    from medsentry.compliance.attestations import attach_document, attest

    actor = _actor(by)
    store = _store(db)
    try:
        with store.session() as session:
            doc = None
            if document is not None:
                doc = attach_document(session, document, kind=kind, actor=actor)
            row = attest(
                session, control, answer, comment, actor, document=doc, valid_days=valid_days
            )
            out.print(
                f"attestation {row.id} recorded for {control}: {answer} (digest {row.digest[:12]})"
            )
    finally:
        store.close()


@compliance_app.command("publish")
def compliance_publish(
    kind: str = typer.Argument(..., help="Document kind, e.g. vex, sbom, threat_model."),
    path: Path = typer.Argument(..., help="The file."),
    by: str | None = typer.Option(None, "--by", help="Who publishes it."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Keep a published document (VEX, policy, test report) as evidence."""
    from medsentry.compliance.attestations import attach_document

    if kind == "vex":
        _check_vex(path)
    store = _store(db)
    try:
        with store.session() as session:
            row = attach_document(session, path, kind=kind, actor=_actor(by))
            out.print(f"document {row.id} ({kind}) kept: {row.name}, sha256 {row.sha256[:16]}")
    finally:
        store.close()


def _check_vex(path: Path) -> None:
    from medsentry.vuln.vex import detect_vex

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable JSON VEX document ({exc})") from exc
    if detect_vex(doc) is None:
        raise InputError(f"{path}: not a CycloneDX, CSAF or OpenVEX VEX document")


# --------------------------------------------------------------------------- MDS2


@mds2_app.command("import")
def mds2_import(
    files: list[Path] = typer.Argument(..., help="Filled MDS2 forms (XLSX, CSV or TSV)."),
    device: list[str] = typer.Option(
        [], "--device", help="Inventory device this form describes (key, MAC or IP); repeat."
    ),
    by: str | None = typer.Option(None, "--by", help="Who imports it."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Import MDS2 forms (HN 1-2013 or HN 1-2019) and store their answers per device model."""
    from medsentry.compliance.mds2.reader import read_form
    from medsentry.compliance.mds2.repository import save_form

    store = _store(db)
    try:
        for path in files:
            form = read_form(path)
            with store.session() as session:
                form_id, created = save_form(session, form, actor=_actor(by), devices=device)
            fixed = [i["detail"] for i in form.issues if i["kind"] == "id_normalised"]
            out.print(
                f"form {form_id} {'imported' if created else 'already stored'}: {path.name} "
                f"({form.version}, {len(form.answers)} answers, "
                f"{form.manufacturer or 'maker not given'}, models: "
                f"{', '.join(form.models) or 'not given'})"
            )
            if fixed:
                out.print("  ids corrected: " + ", ".join(fixed[:10]))
    finally:
        store.close()


@mds2_app.command("list")
def mds2_list(db: str | None = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """List stored MDS2 forms."""
    from medsentry.compliance.mds2.repository import list_forms

    store = _store(db)
    try:
        with store.session() as session:
            forms = list_forms(session)
    finally:
        store.close()
    table = Table(box=box.SIMPLE)
    for column in ("id", "form", "answers", "linked devices", "source"):
        table.add_column(column)
    for f in forms:
        table.add_row(
            str(f.id),
            f.title,
            str(len(f.answers)),
            str(len(f.linked_device_ids)),
            Path(f.source_path or "").name,
        )
    out.print(table)


@mds2_app.command("diff")
def mds2_diff(
    form_id: int | None = typer.Argument(None, help="Form id (default: every stored form)."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Compare what MDS2 forms declare with what their devices were seen doing."""
    from medsentry.compliance.mds2.diff import diff_form
    from medsentry.compliance.mds2.repository import list_forms
    from medsentry.compliance.observe import Observations

    store = _store(db)
    try:
        with store.session() as session:
            ids = [form_id] if form_id is not None else [f.id for f in list_forms(session)]
            obs = Observations(session)
            diffs = [diff_form(session, i, obs) for i in ids]
    finally:
        store.close()
    if as_json:
        _json([d.to_json() for d in diffs])
        return
    for d in diffs:
        out.print(f"[bold]form {d.form.id}[/bold] {d.form.title}")
        if not d.devices:
            out.print("  no inventory device matched: link one with `mds2 import FILE --device IP`")
            continue
        out.print("  devices: " + ", ".join(x.label for x in d.devices))
        table = Table(box=box.SIMPLE)
        for column in ("check", "declared", "observed", "verdict"):
            table.add_column(column)
        for item in d.items:
            table.add_row(
                item.check.replace("_", " "),
                item.declared,
                item.observed,
                _styled(item.verdict.value),
            )
        out.print(table)
        for item in d.contradictions:
            for line in item.evidence[:5]:
                out.print(f"  [red]{item.check}[/red]: {line}")


@mds2_app.command("export")
def mds2_export(
    output: Path = typer.Argument(..., help="Where to write the draft (.xlsx or .csv)."),
    form_id: int | None = typer.Option(None, "--form", help="Draft for the devices of this form."),
    device: list[str] = typer.Option([], "--device", help="Draft for these devices; repeat."),
    template: Path | None = typer.Option(
        None, "--template", help="Fill this blank XLSX form instead of the standard layout."
    ),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Write a pre-filled MDS2 draft (HN 1-2019) from what the devices were seen doing."""
    from medsentry.compliance.mds2.diff import DeviceTraffic
    from medsentry.compliance.mds2.export import (
        fill_template,
        merge_declared,
        observed_answers,
        write_standard,
    )
    from medsentry.compliance.mds2.repository import devices_for_form, get_form, resolve_devices
    from medsentry.compliance.observe import Observations

    if form_id is None and not device:
        raise InputError("say which devices: --form ID or --device IP (repeatable)")
    store = _store(db)
    try:
        with store.session() as session:
            obs = Observations(session)
            chosen = []
            declared: list[tuple[str, str]] = []
            if form_id is not None:
                form = get_form(session, form_id)
                chosen += devices_for_form(form, obs)
                declared = [(q, a.text or "") for q, a in form.answers.items()]
            ids = resolve_devices(session, device)
            chosen += [obs.device_by_id[i] for i in ids if i in obs.device_by_id]
            if not chosen:
                raise InputError("no inventory device to describe: link devices to the form")
            answers = merge_declared(observed_answers(DeviceTraffic(obs, chosen)), declared)
    finally:
        store.close()
    if template is not None:
        filled = fill_template(template, output, answers)
        out.print(f"filled {filled} answers into {output}")
        return
    title = "MDS2 draft: " + ", ".join(d.label for d in chosen[:4])
    write_standard(output, answers, title=title)
    out.print(f"draft with {len(answers)} answers written to {output}")


# --------------------------------------------------------------------------- recalls


@recalls_app.command("import")
def recalls_import(
    sources: list[str] = typer.Argument(..., help="openFDA JSON files or http(s) URLs."),
    match: bool = typer.Option(True, "--match/--no-match", help="Match recalls to devices."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Import device recalls / enforcement reports and match them to inventory devices."""
    from medsentry.compliance.recalls import (
        match_recalls,
        read_source,
        recall_findings,
        save_recalls,
    )

    store = _store(db)
    try:
        for source in sources:
            result = read_source(source)
            with store.session() as session:
                new, updated = save_recalls(session, result.recalls, source)
            out.print(
                f"{source}: {len(result.recalls)} device recall(s) ({new} new, {updated} updated), "
                f"{result.skipped} non-device record(s) skipped"
            )
        if match:
            with store.session() as session:
                created, refreshed = match_recalls(session)
                findings = recall_findings(session, state="open")
            out.print(
                f"{created} new recall finding(s), {refreshed} refreshed; {len(findings)} open"
            )
            for f in findings[:20]:
                out.print(
                    f"  {f.recall.recall_number} -> "
                    f"{f.device.label if f.device else f.device_id}: {f.reason}"
                )
    finally:
        store.close()


@recalls_app.command("list")
def recalls_list(
    state: str | None = typer.Option(
        None, "--state", help="open, closed, resolved, not_applicable"
    ),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Recall findings: recalls that concern inventory devices."""
    from medsentry.compliance.recalls import recall_findings

    store = _store(db)
    try:
        with store.session() as session:
            findings = recall_findings(session, state=state)
    finally:
        store.close()
    if as_json:
        _json([f.to_json() for f in findings])
        return
    table = Table(box=box.SIMPLE)
    for column in ("id", "recall", "class", "device", "state", "match"):
        table.add_column(column)
    for f in findings:
        table.add_row(
            str(f.id),
            f.recall.recall_number,
            f.recall.classification or "",
            f.device.label if f.device else str(f.device_id),
            f.state,
            f.method,
        )
    out.print(table)


@recalls_app.command("set-state")
def recalls_set_state(
    finding_id: int = typer.Argument(..., help="Recall finding id (see `recalls list`)."),
    state: str = typer.Argument(..., help="open, closed, resolved or not_applicable"),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Mark a recall finding resolved (remediated), not applicable, closed or open."""
    from medsentry.compliance.recalls import set_state

    store = _store(db)
    try:
        with store.session() as session:
            set_state(session, finding_id, state)
    finally:
        store.close()
    out.print(f"recall finding {finding_id} is now {state}")


# --------------------------------------------------------------------------- readiness


@app.command("readiness")
def readiness(
    profile: str = typer.Option(..., "--profile", "-p", help=PROFILE_HELP),
    answers: Path | None = typer.Option(
        None, "--answers", help="YAML mapping of question id to answer value."
    ),
    interactive: bool = typer.Option(
        False, "--interactive", "-i", help="Ask the questions on the terminal."
    ),
    save: bool = typer.Option(True, "--save/--no-save", help="Keep the result."),
    by: str | None = typer.Option(None, "--by", help="Who answers."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Readiness self-assessment: a short questionnaire scored with the automated evidence
    into a maturity level and a prioritised roadmap."""
    from medsentry.compliance.readiness import (
        evaluate,
        load_questionnaire,
        read_answers,
        save_readiness,
    )

    given: dict[str, str] = read_answers(answers) if answers else {}
    if interactive:
        q = load_questionnaire()
        for question in q.for_profile(profile):
            if question.id in given:
                continue
            options = q.options(question)
            out.print(f"\n[bold]{question.text}[/bold]")
            for i, option in enumerate(options):
                out.print(f"  {i}. {option.label}")
            choice = typer.prompt("answer (number, empty to skip)", default="", show_default=False)
            if choice.strip().isdigit() and int(choice) < len(options):
                given[question.id] = options[int(choice)].value
    store = _store(db)
    try:
        with store.session() as session:
            result = evaluate(session, profile, given)
            if save:
                save_readiness(session, result, _actor(by))
    finally:
        store.close()
    if as_json:
        _json(result.to_json())
        return
    out.print(
        f"[bold]Readiness: level {result.level} of 5 ({result.level_name}), "
        f"score {result.overall:.0f}%[/bold]"
    )
    for domain, score in result.domain_scores.items():
        out.print(f"  {domain}: {score:.0f}%")
    out.print("\nWhat applies to you:")
    for item in result.applicable:
        out.print(f"  {item['title']} - {item['status']}")
    out.print("\nRoadmap:")
    for step in result.roadmap[:15]:
        out.print(f"  [{step.horizon}] {step.action}  [dim]({step.why[:120]})[/dim]")


# --------------------------------------------------------------------------- report


@app.command("report")
def report(
    profile: str = typer.Option(..., "--profile", "-p", help=PROFILE_HELP),
    fmt: list[str] = typer.Option(["html", "pdf"], "--format", "-f", help="html and/or pdf"),
    output: Path = typer.Option(Path("medsentry-report"), "--out", "-o", help="Output folder."),
    organisation: str = typer.Option("", "--org", help="Organisation or product name."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Write the compliance report (HTML, PDF) and its evidence files into a folder; for
    manufacturers with an FDA premarket cybersecurity package."""
    from medsentry.compliance.report.package import write_report
    from medsentry.compliance.status import save_assessment

    store = _store(db)
    try:
        with store.session() as session:
            files = write_report(
                session, profile, output, formats=tuple(fmt), organisation=organisation
            )
            if files.data is not None:
                save_assessment(session, files.data.assessment, _actor(None))
    finally:
        store.close()
    for path in files.files:
        out.print(str(path))
