"""The Know commands end to end on a temporary database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import medsentry.cli.know  # noqa: F401  (registers the commands)
from medsentry.cli import app
from medsentry.vuln.advisories.csaf_validate import validate_csaf

from .test_findings import device_sbom

runner = CliRunner()


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_know_workflow(tmp_path: Path, vuln_corpus: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    out = json.loads(
        _run("advisories", "import", str(vuln_corpus / "csaf/icsma"), "--db", db, "--json")
    )
    assert out["advisories"]["new"] == 144 and out["failures"] == []
    again = json.loads(
        _run("advisories", "import", str(vuln_corpus / "csaf/icsma"), "--db", db, "--json")
    )
    assert again["advisories"]["unchanged"] == 144

    listed = json.loads(
        _run("advisories", "list", "--search", "ICSMA-24-151-01", "--db", db, "--json")
    )
    assert [a["id"] for a in listed] == ["ICSMA-24-151-01"]
    assert listed[0]["validation"]["valid"] is True

    sbom = tmp_path / "device.json"
    sbom.write_text(json.dumps(device_sbom()))
    imported = json.loads(_run("sbom", "import", str(sbom), "--db", db, "--json"))
    assert imported["findings_new"] == 1
    findings = json.loads(_run("findings", "--db", db, "--json"))
    (finding,) = findings
    assert finding["vuln_id"] == "CVE-2024-5176" and finding["priority"] == "P1"
    assert json.loads(_run("findings", "--priority", "P4", "--db", db, "--json")) == []

    _run(
        "findings",
        "set-state",
        str(finding["id"]),
        "not_affected",
        "--justification",
        "component_not_present",
        "--actor",
        "alice",
        "--comment",
        "tool not in product",
        "--db",
        db,
    )
    history = json.loads(_run("findings", "history", str(finding["id"]), "--db", db, "--json"))
    assert [(h["actor"], h["new_state"]) for h in history] == [
        ("medsentry-matcher", "affected"),
        ("alice", "not_affected"),
    ]
    assert "Welch Allyn" in _run("findings", "history", str(finding["id"]), "--db", db)

    csaf_out = tmp_path / "vex.csaf.json"
    _run("vex", "export", "--format", "csaf", "-o", str(csaf_out), "--db", db)
    doc = json.loads(csaf_out.read_text())
    assert validate_csaf(doc, "export").errors == []
    assert doc["vulnerabilities"][0]["flags"][0]["label"] == "component_not_present"
    cdx = json.loads(_run("vex", "export", "--db", db))
    assert cdx["vulnerabilities"][0]["analysis"]["state"] == "not_affected"

    report = json.loads(
        _run(
            "sbom",
            "check",
            "--json",
            str(vuln_corpus / "sboms/medical/sbom-completeness/extended.sbom.json"),
        )
    )
    assert report["flaw_counts"]["purl_without_version"] > 0


def test_errors_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from medsentry.cli import main; main()",
            "advisories",
            "import",
            str(bad),
            "--db",
            f"sqlite:///{tmp_path / 'x.db'}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ")
    assert "bad.json: not valid JSON" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
