"""The real medical-device SBOMs, the vendor FreeRTOS SBOMs and a firmware SBOM against the
real advisories (144 ICSMA + 50 ICSA CSAF files, CVE 5 records) and the CISA KEV catalog.

Every expected match below was checked by hand against the advisory text:

* the two device SBOMs (narrow: 55 components, extended: 65) match no advisory. Their
  embedded parts are near misses: BadAlloc (ICSA-21-119-04) lists "Amazon FreeRTOS" 10.4.1
  only (the SBOM has 10.0.1) and "NXP MCUXpresso SDK" < 2.8.2 (the SBOM has 2.8.2's successor
  2.9.0); no ICSA/ICSMA file names wolfSSL, FatFs, EdgeOS or UniFi;
* in KEV they are named once: jQuery 3.1.1 by CVE-2020-11023 (jQuery >= 1.0.3 and < 3.5.0
  are affected, so the lead is right); log4net is not Log4j2, UAP-AC-Pro / EdgeOS are not
  AirOS, a QCA9563 is not one of Qualcomm's "Multiple Chipsets";
* with only the version changed, the same components match BadAlloc, which shows the names
  are read (identity from supplier, CPE and purl; "NXP SDK" is the MCUXpresso SDK).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import medsentry.cli.know  # registers the know commands
import medsentry.cli.protect  # registers `firmware scan`
from medsentry.cli import app
from medsentry.compliance.attestations import documents
from medsentry.store.db import Store
from medsentry.store.models.vuln import KevRow
from medsentry.vuln.advisories.importer import expand_paths, import_paths, parse_files
from medsentry.vuln.findings import list_findings, match_and_store, set_state
from medsentry.vuln.match.engine import Matcher
from medsentry.vuln.match.kev import KevEntry, KevNameMatcher
from medsentry.vuln.model import Component, MatchMethod, Sbom
from medsentry.vuln.repository import save_sbom
from medsentry.vuln.sbom.load import load_sbom, parse_sbom

MEDICAL = "sboms/medical/sbom-completeness"
ADVISORIES = ("csaf/icsma", "csaf/icsa_sample", "cve5")
KEV_JSON = "kev/known_exploited_vulnerabilities.json"
BADALLOC = "ICSA-21-119-04"

runner = CliRunner()


@pytest.fixture(scope="module")
def matcher(vuln_corpus: Path) -> Matcher:
    docs, failures = parse_files(expand_paths([vuln_corpus / a for a in ADVISORIES]))
    assert failures == []
    return Matcher.from_advisories(a for d in docs for a in d.advisories)


@pytest.fixture(scope="module")
def kev(vuln_corpus: Path) -> KevNameMatcher:
    doc = json.loads((vuln_corpus / KEV_JSON).read_text())
    return KevNameMatcher(
        KevEntry(
            v["cveID"],
            v["vendorProject"],
            v["product"],
            v["vulnerabilityName"],
            v["dueDate"],
            v["knownRansomwareCampaignUse"],
        )
        for v in doc["vulnerabilities"]
    )


def _components(sbom: Sbom) -> list[Component]:
    return [*sbom.components, *([sbom.primary] if sbom.primary else [])]


def _hits(matches: Any, sbom: Sbom) -> set[tuple[str, str, str]]:
    names = {c.ref: f"{c.name} {c.version}" for c in _components(sbom)}
    return {
        (names[m.component_ref], m.details["advisory_id"], m.product.product_id) for m in matches
    }


def _with_versions(sbom: Sbom, versions: dict[str, str]) -> Sbom:
    return dataclasses.replace(
        sbom,
        components=tuple(
            dataclasses.replace(c, version=versions.get(c.name, c.version)) for c in sbom.components
        ),
    )


@pytest.mark.parametrize("name", ["narrow.sbom.json", "extended.sbom.json"])
def test_real_device_sboms_match_no_advisory_and_one_kev_entry(
    vuln_corpus: Path, matcher: Matcher, kev: KevNameMatcher, name: str
) -> None:
    sbom = load_sbom(vuln_corpus / MEDICAL / name).sbom
    assert matcher.match(_components(sbom)) == []
    leads = kev.match(_components(sbom))
    assert _hits(leads, sbom) == {("jQuery 3.1.1", "CVE-2020-11023", "KEV JQuery / JQuery")}
    (lead,) = leads
    assert lead.method is MatchMethod.KEV_NAME and lead.details["version_checked"] == "false"


@pytest.mark.parametrize("name", ["narrow.sbom.json", "extended.sbom.json"])
def test_the_embedded_parts_are_read_and_only_their_versions_keep_them_out(
    vuln_corpus: Path, matcher: Matcher, name: str
) -> None:
    sbom = load_sbom(vuln_corpus / MEDICAL / name).sbom
    freertos = {"FreeRTOS": "10.4.1"} if name.startswith("extended") else {}
    changed = _with_versions(sbom, {**freertos, "NXP SDK": "2.8.0"})
    expected = {("NXP SDK 2.8.0", BADALLOC, "CSAFPID-00019")}  # "NXP MCUXpresso SDK" < 2.8.2
    if freertos:
        expected.add(("FreeRTOS 10.4.1", BADALLOC, "CSAFPID-00017"))  # "Amazon FreeRTOS" 10.4.1
    found = matcher.match(_components(changed))
    assert _hits(found, changed) == expected
    assert all(m.method is MatchMethod.VENDOR_PRODUCT and m.confidence <= 0.6 for m in found)
    # the first fixed SDK release is outside "< 2.8.2"
    fixed = _with_versions(sbom, {"NXP SDK": "2.8.2"})
    assert matcher.match(_components(fixed)) == []


def test_vendor_freertos_sboms_match_nothing_until_their_version_is_badalloc(
    vuln_corpus: Path, matcher: Matcher, kev: KevNameMatcher
) -> None:
    embedded = sorted((vuln_corpus / "sboms/embedded").iterdir())
    assert len(embedded) == 4
    for path in embedded:
        comps = _components(load_sbom(path).sbom)
        assert matcher.match(comps) == [] and kev.match(comps) == [], path.name
    kernel = load_sbom(vuln_corpus / "sboms/embedded/FreeRTOS-Kernel-V11.2.0.sbom.spdx").sbom
    # The kernel SBOM names its maker only through its CPE (amazon:freertos).
    old = _with_versions(kernel, {"FreeRTOS-Kernel": "V10.4.1"})
    assert _hits(matcher.match(_components(old)), old) == {
        ("FreeRTOS-Kernel V10.4.1", BADALLOC, "CSAFPID-00017")
    }


def test_cve5_record_without_affected_products_is_read_from_its_description(
    matcher: Matcher,
) -> None:
    # CVE-2020-11896 (Ripple20) says "n/a" everywhere but "Treck TCP/IP stack before 6.0.1.66"
    treck = [
        Component(ref=v, name="TCP/IP stack", version=v, supplier="Treck Inc.")
        for v in ("6.0.1.41", "6.0.1.66")
    ]
    (match,) = matcher.match(treck)
    assert match.component_ref == "6.0.1.41"
    assert match.details["advisory_id"] == "CVE-2020-11896"
    assert match.product.product == "Treck TCP/IP stack" and match.product.vendor is None
    assert "read from the CVE description" in match.reason
    assert match.confidence < 0.5  # description text: below any advisory product


def test_kev_is_linked_to_findings_by_cve(vuln_store: Store, vuln_corpus: Path) -> None:
    doc = _device_sbom("Baxter", "ExactaMix EM2400", ["1.13", "1.12"])
    with vuln_store.session() as session:
        import_paths(session, [vuln_corpus / "csaf/icsma/icsma-20-170-01.json"])
        import_paths(session, [vuln_corpus / KEV_JSON])
        loaded = parse_sbom(json.dumps(doc).encode(), "exactamix.json")
        save_sbom(session, loaded.sbom, loaded.sha256)
    with vuln_store.session() as session:
        run = match_and_store(session)
        views = list_findings(session)
    # 1.13 is listed by ICSMA-20-170-01 with 7 CVEs; 1.12 is not listed at all
    assert run.new == 7 and {v.component for v in views} == {"ExactaMix EM2400 1.13"}
    by_cve = {v.vuln_id: v for v in views}
    eternal_blue = by_cve["CVE-2017-0143"]
    assert eternal_blue.kev and eternal_blue.kev_due_date == "2022-05-03"
    assert eternal_blue.kev_ransomware == "Known"
    assert "ransomware" in (eternal_blue.priority_reason or "")
    assert [v.vuln_id for v in views if v.kev] == ["CVE-2017-0143"]
    assert views[0].vuln_id == "CVE-2017-0143"  # known exploited sorts first


def _device_sbom(maker: str, model: str, versions: list[str]) -> dict[str, Any]:
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {"component": {"type": "device", "name": model, "supplier": {"name": maker}}},
        "components": [
            {
                "type": "firmware",
                "bom-ref": f"fw-{v}",
                "name": model,
                "version": v,
                "supplier": {"name": maker},
            }
            for v in versions
        ],
    }


def _cli(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _said(*args: str) -> str:
    """A command's console output as one line (Rich wraps at the terminal width)."""
    return " ".join(_cli(*args).split())


def test_real_device_sbom_end_to_end(
    tmp_path: Path, vuln_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite:///{tmp_path / 'e2e.db'}"
    sbom = vuln_corpus / MEDICAL / "extended.sbom.json"
    imported = json.loads(_cli("sbom", "import", str(sbom), "--db", db, "--json"))
    assert imported["components"] == 65 and imported["findings_new"] == 0
    assert imported["flaws"] == {"purl_without_version": 10, "cpe_version_mismatch": 1}
    csaf = [str(vuln_corpus / a) for a in ADVISORIES]
    out = json.loads(_cli("advisories", "import", *csaf, "--db", db, "--json"))
    assert out["advisories"]["new"] == 196 and out["failures"] == []
    out = json.loads(
        _cli("advisories", "import", str(vuln_corpus / KEV_JSON), "--db", db, "--json")
    )
    assert out["kev_entries"] == 1404

    # Advisories alone: nothing (see the module docstring); with KEV names: one lead.
    assert "0 matches, 0 KEV name leads, 0 new findings" in _said("findings", "match", "--db", db)
    said = _said("findings", "match", "--kev-names", "--db", db)
    assert "1 KEV name leads, 1 new findings" in said
    (lead,) = json.loads(_cli("findings", "--priority", "P1,P2", "--db", db, "--json"))
    assert (lead["vuln_id"], lead["component"], lead["advisory"]) == (
        "CVE-2020-11023",
        "jQuery 3.1.1",
        "kev:CVE-2020-11023",
    )
    assert lead["state"] == "under_investigation" and lead["method"] == "kev_name"
    assert lead["confidence"] == 0.3 and "NOT checked" in lead["reason"]
    assert lead["kev"] and lead["kev_due_date"] == "2025-02-13"
    assert lead["priority_reason"] == "P2 high: no CVSS score; known exploited (CISA KEV)"
    monkeypatch.setattr(medsentry.cli.know.console, "width", 300)  # no wrapped cells
    table = _cli("findings", "--db", db)
    assert "KEV due 2025-02-13" in table and "NOT checked" in table

    # Publishing the VEX is recorded for the compliance evaluator.
    vex = tmp_path / "device.vex.json"
    _cli("vex", "export", "-o", str(vex), "--actor", "pm", "--db", db)
    store = Store(db)
    try:
        with store.session() as session:
            (document,) = documents(session, "vex")
            assert document.name == "device.vex.json" and document.actor == "pm"
            assert document.content == vex.read_bytes()
    finally:
        store.close()


def test_kev_name_leads_are_version_blind_on_a_firmware_sbom(
    tmp_path: Path, corpus: Path, vuln_corpus: Path, vuln_store: Store
) -> None:
    """Debian 12 packages (OpenSSL 3.0.20, curl 7.88.1, BusyBox 1.35.0, Dropbear 2022.83):
    no advisory of the corpus concerns them, and KEV's OpenSSL entry is Heartbleed, fixed in
    1.0.1g long before 3.0. The name lead appears, marked as unchecked, and a person's
    not_affected decision survives the next match."""
    sbom = tmp_path / "firmware.cdx.json"
    _cli("firmware", "scan", str(corpus / "protect/debs/armhf"), "--sbom", str(sbom))
    with vuln_store.session() as session:
        import_paths(session, [vuln_corpus / a for a in ADVISORIES] + [vuln_corpus / KEV_JSON])
        loaded = load_sbom(sbom)
        save_sbom(session, loaded.sbom, loaded.sha256)
        assert session.scalar(select(KevRow.product).where(KevRow.cve_id == "CVE-2014-0160"))
    with vuln_store.session() as session:
        run = match_and_store(session, kev_names=True)
        assert (run.matches, run.kev_leads) == (0, 1)
        (view,) = list_findings(session)
        assert (view.component, view.vuln_id, view.state, view.confidence) == (
            "openssl 3.0.20",
            "CVE-2014-0160",
            "under_investigation",
            0.3,
        )
        set_state(
            session,
            view.id,
            "not_affected",
            actor="analyst",
            justification="vulnerable_code_not_present",
            detail="Heartbleed affects OpenSSL 1.0.1 to 1.0.1f; this is 3.0.20",
        )
    with vuln_store.session() as session:
        match_and_store(session, kev_names=True)
        (view,) = list_findings(session)
        assert view.state == "not_affected"


def test_multi_project_advisory_findings_follow_each_cve_summary(
    vuln_store: Store, vuln_corpus: Path
) -> None:
    """BadAlloc marks its 28 products affected by all 24 CVEs; each CVE's summary names the
    product it was found in. The two findings whose summary names the matched product keep
    the match's confidence; the other 46 keep the advisory's status at half of it."""
    sbom = load_sbom(vuln_corpus / MEDICAL / "extended.sbom.json").sbom
    changed = _with_versions(sbom, {"FreeRTOS": "10.4.1", "NXP SDK": "2.8.0"})
    with vuln_store.session() as session:
        import_paths(session, [vuln_corpus / "csaf/icsa_sample/icsa-21-119-04.json"])
        save_sbom(session, changed, "0" * 64)
    with vuln_store.session() as session:
        run = match_and_store(session)
        views = list_findings(session)
    assert run.new == 48 and {v.state for v in views} == {"affected"}
    confident = {(v.component, v.vuln_id) for v in views if v.confidence >= 0.5}
    assert confident == {("FreeRTOS 10.4.1", "CVE-2020-28895"), ("NXP SDK 2.8.0", "CVE-2021-27417")}
    doubtful = [v for v in views if v.confidence < 0.5]
    assert len(doubtful) == 46
    assert all("summary of" in v.reason and "not this product" in v.reason for v in doubtful)
    nxp_cve = next(v for v in doubtful if v.vuln_id == "CVE-2021-27417")
    assert nxp_cve.component == "FreeRTOS 10.4.1" and "nxp mcuxpresso sdk" in nxp_cve.reason
