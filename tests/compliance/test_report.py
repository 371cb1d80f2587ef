"""The report: HTML self-contained, PDF rendered once per session and checked as PNG pages
(pdftoppm) and text (pdftotext); the FDA premarket package files."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from medsentry.compliance.attestations import attest
from medsentry.compliance.mds2.export import DraftAnswer, write_standard
from medsentry.compliance.mds2.reader import read_form
from medsentry.compliance.mds2.repository import save_form
from medsentry.compliance.readiness import evaluate, save_readiness
from medsentry.compliance.report.charts import donut, stacked_bars
from medsentry.compliance.report.package import ReportFiles, write_report
from medsentry.store.db import Store
from medsentry.vuln.sbom.load import load_sbom

from . import builders as b

FAKE_PHI = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "captures" / "fake_phi.json").read_text()
)


def _populate(store: Store, folder: Path) -> None:
    """The demo traffic plus the rest a report shows: SBOM, findings, KEV, an MDS2 form,
    an attestation and a readiness self-assessment."""
    comps = b.sbom(store, manufacturer="ICU Medical", model="Plum 360", components=3)
    b.kev(store, "CVE-2021-44228", due="2021-12-24")
    b.finding(store, comps[0], "CVE-2021-44228", "affected")
    b.finding(store, comps[1], "CVE-2022-0001", "fixed", fixed_after_days=12)
    b.finding(
        store,
        comps[2],
        "CVE-2022-0002",
        "not_affected",
        justification="vulnerable_code_not_in_execute_path",
    )
    form = write_standard(
        folder / "pump.xlsx",
        {
            "DOC-1": DraftAnswer("ICU Medical", ""),
            "DOC-3": DraftAnswer("Plum 360", ""),
            "TXCF-2": DraftAnswer("Yes", ""),
        },
        title="pump",
    )
    with store.session() as s:
        save_form(s, read_form(form), actor="biomed", devices=["10.77.0.30"])
        attest(s, "hipaa.164.312.a.2.i", "pass", "Unique accounts via the directory", "ciso")
        save_readiness(s, evaluate(s, "hospital", {"prep.inventory": "routine"}), "ciso")


@pytest.fixture(scope="session")
def rendered(
    demo_db_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ReportFiles]:
    folder = tmp_path_factory.mktemp("report")
    db = folder / "store.db"
    shutil.copy(demo_db_template, db)
    store = Store(f"sqlite:///{db}")
    try:
        _populate(store, folder)
        with store.session() as s:
            hospital = write_report(
                s, "hospital", folder / "hospital", organisation="Demo Hospital"
            )
            maker = write_report(
                s,
                "manufacturer",
                folder / "manufacturer",
                formats=("html",),
                organisation="ICU Medical Plum 360",
            )
    finally:
        store.close()
    return {"hospital": hospital, "manufacturer": maker}


def test_pdf_renders_to_pages(rendered: dict[str, ReportFiles], tmp_path: Path) -> None:
    pdf = rendered["hospital"].folder / "report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(
        ["pdftoppm", "-r", "40", "-f", "1", "-l", "2", "-png", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 2
    for page in pages:
        assert page.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert page.stat().st_size > 5000  # a real page, not a blank one
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    first_page = text.split("\f")[0]
    assert "Executive summary" in first_page
    assert "Demo Hospital" in first_page
    assert "What needs attention first" in first_page
    # Each control is listed with its status and evidence, naming the devices.
    assert "Transmission security" in text
    assert "45 CFR 164.312(e)(1)" in text
    assert re.search(r"ICU Medical Plum 360 \[10\.77\.0\.30\]", text)
    assert "declared versus observed" in text
    assert "Unique accounts via the directory" in text
    assert "CVE-2021-44228" in text
    pages_total = int(re.search(r"page 1 of (\d+)", text).group(1))  # type: ignore[union-attr]
    assert pages_total >= 5


def test_html_is_self_contained(rendered: dict[str, ReportFiles]) -> None:
    html = (rendered["hospital"].folder / "report.html").read_text()
    assert "<svg" in html and "<style>" in html
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html)
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "&#34;DejaVu" not in html  # the stylesheet is not escaped


def test_no_patient_data_in_any_output(rendered: dict[str, ReportFiles]) -> None:
    for files in rendered.values():
        for path in files.files:
            if path.suffix == ".pdf":
                content = subprocess.run(
                    ["pdftotext", str(path), "-"], check=True, capture_output=True, text=True
                ).stdout
            else:
                content = path.read_text(encoding="utf-8")
            for planted in FAKE_PHI:
                assert planted not in content, (path.name, planted)


def test_manifest_lists_every_file(rendered: dict[str, ReportFiles]) -> None:
    for files in rendered.values():
        manifest = json.loads((files.folder / "manifest.json").read_text())
        listed = {item["path"]: item["sha256"] for item in manifest["files"]}
        assert len(listed) == len(files.files) - 1
        for rel, digest in listed.items():
            assert hashlib.sha256((files.folder / rel).read_bytes()).hexdigest() == digest


def test_fda_premarket_package(rendered: dict[str, ReportFiles]) -> None:
    pkg = rendered["manufacturer"].folder / "fda_premarket_package"
    sboms = list((pkg / "sbom").glob("*.cdx.json"))
    assert len(sboms) == 1
    parsed = load_sbom(sboms[0])
    assert len(parsed.sbom.components) == 3
    assert all(c.support_level and c.end_of_support for c in parsed.sbom.components)
    vex = json.loads((pkg / "vex.cdx.json").read_text())
    states = {v["id"]: v["analysis"]["state"] for v in vex["vulnerabilities"]}
    assert states == {
        "CVE-2021-44228": "exploitable",
        "CVE-2022-0001": "resolved",
        "CVE-2022-0002": "not_affected",
    }
    assessment = (pkg / "vulnerability_assessment.csv").read_text().splitlines()
    assert assessment[1].startswith("CVE-2021-44228,lib0,1.0,ICU Medical Plum 360,yes,2021-12-24")
    metrics = json.loads((pkg / "security_metrics.json").read_text())
    assert metrics["kev_open"] == 1 and metrics["fixed"] == 1
    assert metrics["median_days_to_fix"] == 12.0
    matrix = (pkg / "traceability_matrix.csv").read_text()
    assert "R-KNOWN-VULN" in matrix and "524b.b2.b" in matrix
    html = (rendered["manufacturer"].folder / "report.html").read_text()
    assert "Traceability: risks to controls" in html
    assert not (rendered["manufacturer"].folder / "report.pdf").exists()


def test_hospital_evidence_files(rendered: dict[str, ReportFiles]) -> None:
    folder = rendered["hospital"].folder
    inventory = (folder / "inventory.csv").read_text()
    assert "10.77.0.31" in inventory and "patient_monitor" in inventory
    diffs = json.loads((folder / "mds2_declared_vs_observed.json").read_text())
    assert diffs[0]["contradictions"] >= 1
    assessment = json.loads((folder / "assessment.json").read_text())
    assert assessment["summary"]["counts"]["fail"] >= 1


def test_charts_are_plain_svg() -> None:
    svg = donut({"pass": 3, "fail": 1}, label="75%")
    assert svg.startswith("<svg") and svg.count("<circle") == 2 and "75%" in svg
    bars = stacked_bars([("A & B <x>", {"pass": 1, "partial": 1})])
    assert "A &amp; B &lt;x&gt;" in bars and bars.count("<rect") == 2
