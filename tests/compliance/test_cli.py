"""The prove commands, run through the CLI on the analysed demo store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import medsentry.cli.prove  # noqa: F401  (registers the prove commands on the app)
from medsentry.cli import app
from medsentry.compliance.mds2.export import DraftAnswer, write_standard
from medsentry.store.db import Store

WIDE = {"COLUMNS": "250"}
runner = CliRunner()


def _db(store: Store) -> str:
    return str(store.engine.url)


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), env=WIDE)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_assess_attest_show(demo_store: Store, tmp_path: Path) -> None:
    db = _db(demo_store)
    out = invoke("compliance", "assess", "-p", "hospital", "--db", db)
    assert "fail hipaa.164.312.e.1 Transmission security" in out
    assert "kept as assessment" in out
    doc = tmp_path / "sop.pdf"
    doc.write_bytes(b"%PDF-1.4 emergency access")
    out = invoke(
        "compliance",
        "attest",
        "hipaa.164.312.a.2.ii",
        "--answer",
        "pass",
        "--comment",
        "Break-glass SOP tested in March",
        "--by",
        "ciso",
        "--document",
        str(doc),
        "--kind",
        "procedure",
        "--db",
        db,
    )
    assert "attestation 1 recorded" in out
    invoke("compliance", "assess", "-p", "hospital", "--db", db)
    shown = json.loads(invoke("compliance", "show", "-p", "hospital", "--json", "--db", db))
    by_control = {r["control"]: r for r in shown["results"]}
    assert by_control["hipaa.164.312.a.2.ii"]["status"] == "pass"
    assert by_control["hipaa.164.312.e.1"]["status"] == "fail"
    detail = json.loads(
        invoke("compliance", "show", "-c", "hipaa.164.312.a.2.ii", "--json", "--db", db)
    )
    assert detail["trail_intact"] is True
    assert detail["attestations"][0]["document_name"] == "sop.pdf"
    listing = invoke("compliance", "show", "--controls", "-p", "manufacturer")
    assert "524b.b3" in listing


def test_bad_input_is_one_line_exit_2(demo_store: Store) -> None:
    import sys

    from medsentry.cli import main  # main() turns MedSentryError into exit code 2

    argv = sys.argv
    sys.argv = [
        "medsentry",
        "compliance",
        "attest",
        "no.such",
        "-a",
        "pass",
        "-m",
        "x",
        "--db",
        _db(demo_store),
    ]
    try:
        with pytest.raises(SystemExit) as exc:
            main()
    finally:
        sys.argv = argv
    assert exc.value.code == 2


def test_publish_vex(demo_store: Store, tmp_path: Path) -> None:
    vex = tmp_path / "vex.json"
    vex.write_text(
        json.dumps(
            {
                "bomFormat": "CycloneDX",
                "specVersion": "1.5",
                "vulnerabilities": [
                    {
                        "id": "CVE-1",
                        "analysis": {"state": "not_affected"},
                        "affects": [{"ref": "x"}],
                    }
                ],
            }
        )
    )
    out = invoke("compliance", "publish", "vex", str(vex), "--by", "psirt", "--db", _db(demo_store))
    assert "(vex) kept" in out
    junk = tmp_path / "junk.json"
    junk.write_text("{}")
    result = runner.invoke(
        app, ["compliance", "publish", "vex", str(junk), "--db", _db(demo_store)]
    )
    assert result.exit_code != 0


def test_mds2_import_diff_export(demo_store: Store, tmp_path: Path) -> None:
    db = _db(demo_store)
    form = write_standard(
        tmp_path / "monitor.xlsx",
        {
            "DOC-1": DraftAnswer("Philips", ""),
            "DOC-3": DraftAnswer("IntelliVue MX450", ""),
            "TXCF-2": DraftAnswer("Yes", ""),
            "TXCF-4": DraftAnswer("Yes", ""),
        },
        title="monitor",
    )
    out = invoke("mds2", "import", str(form), "--device", "10.77.0.31", "--db", db)
    assert "form 1 imported" in out and "HN 1-2019" in out
    assert "already stored" in invoke("mds2", "import", str(form), "--db", db)
    assert "IntelliVue MX450" in invoke("mds2", "list", "--db", db)
    diff = json.loads(invoke("mds2", "diff", "--json", "--db", db))
    assert diff[0]["contradictions"] >= 2
    text = invoke("mds2", "diff", "1", "--db", db)
    assert "contradiction" in text and "10.77.0.31" in text
    draft = tmp_path / "draft.csv"
    out = invoke("mds2", "export", str(draft), "--device", "10.77.0.31", "--db", db)
    assert "draft with" in out
    assert "TXCF-2,Encrypts patient data before sending it,No," in draft.read_text()


def test_recalls_readiness_report(demo_store: Store, corpus: Path, tmp_path: Path) -> None:
    db = _db(demo_store)
    source = corpus / "prove" / "openfda" / "enforcement_legacy" / "ucm308307.jsonl"
    out = invoke("recalls", "import", str(source), "--db", db)
    assert "7 device recall(s) (7 new, 0 updated)" in out
    assert json.loads(invoke("recalls", "list", "--json", "--db", db)) == []
    answers = tmp_path / "answers.yaml"
    answers.write_text("prep.inventory: routine\nmon.traffic: defined\n")
    result = json.loads(
        invoke("readiness", "-p", "hospital", "--answers", str(answers), "--json", "--db", db)
    )
    assert 1 <= result["level"] <= 5 and result["roadmap"]
    assert result["questions"][0]["answer"] == "routine"
    folder = tmp_path / "out"
    out = invoke("report", "-p", "hospital", "--format", "html", "--out", str(folder), "--db", db)
    assert (folder / "report.html").exists() and not (folder / "report.pdf").exists()
    assert "manifest.json" in out


def test_missing_store_is_an_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["compliance", "assess", "-p", "hospital", "--db", f"sqlite:///{tmp_path}/none.db"]
    )
    assert result.exit_code != 0
