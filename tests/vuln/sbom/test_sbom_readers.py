"""SBOM readers on real files: the two medical-device SBOMs, SPDX/CycloneDX examples, the
NTIA conformance checker's expected results, and hostile input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medsentry.errors import MedSentryError
from medsentry.vuln.sbom.load import load_sbom, parse_sbom

MEDICAL = ("narrow.sbom.json", "extended.sbom.json")
NTIA = "sboms/ntia-conformance-checker/tests/data"
# folder → the NTIA element its SBOMs leave out (the checker's expected results)
NTIA_EXPECTED = {
    "no_elements_missing": set(),
    "missing_author_name": {"author"},
    "missing_component_version": {"component_version"},
    "missing_dependency_relationships": {"dependency_relationships"},
    "missing_supplier_name": {"supplier_name"},
    "missing_timestamp": {"timestamp"},
    "missing_unique_identifiers": {"unique_identifiers"},
    # a licence is not an NTIA minimum element: still conformant
    "missing_concluded_license": set(),
}


@pytest.mark.parametrize("name", MEDICAL)
def test_medical_sbom_components_match_the_json(vuln_corpus: Path, name: str) -> None:
    path = vuln_corpus / "sboms/medical/sbom-completeness" / name
    doc = json.loads(path.read_text())
    loaded = load_sbom(path)
    sbom = loaded.sbom
    assert sbom.format == "cyclonedx" and sbom.spec_version == doc["specVersion"]
    assert len(sbom.components) == len(doc["components"])
    by_ref = {c.ref: c for c in sbom.components}
    for raw in doc["components"]:
        comp = by_ref[raw["bom-ref"]]
        assert comp.name == raw["name"]
        assert comp.version == (raw.get("version") or None)
        assert comp.purl == raw.get("purl")
        assert comp.cpes == ((raw["cpe"],) if raw.get("cpe") else ())
        props = {p["name"]: p["value"] for p in raw.get("properties", [])}
        assert comp.support_level == props.get("Level of Support")
        assert comp.end_of_support == props.get("End-of-Support")


@pytest.mark.parametrize("name", MEDICAL)
def test_medical_sbom_quality_names_its_real_flaws(vuln_corpus: Path, name: str) -> None:
    path = vuln_corpus / "sboms/medical/sbom-completeness" / name
    doc = json.loads(path.read_text())
    report = load_sbom(path).quality()
    unversioned_purls = sorted(
        f"{c['name']} {c['version']}" if c.get("version") else c["name"]
        for c in doc["components"]
        if c.get("purl") and "@" not in c["purl"]
    )
    flagged = sorted(f.component or "" for f in report.flaws if f.code == "purl_without_version")
    assert unversioned_purls and flagged == unversioned_purls
    mismatches = [f for f in report.flaws if f.code == "cpe_version_mismatch"]
    assert any("r0.13" in f.message and "0.13c" in f.message for f in mismatches)
    # Hardware parts have no version; the dependency list names refs without edges.
    assert {"component_version", "dependency_relationships"} <= report.missing_ntia()
    no_version = [c["name"] for c in doc["components"] if not c.get("version")]
    version_check = next(c for c in report.ntia if c.id == "component_version")
    assert set(no_version) <= set(version_check.missing)
    support = next(c for c in report.fda if c.id == "support_level")
    assert support.passed is True  # every component states its level of support


@pytest.mark.parametrize("folder", sorted(NTIA_EXPECTED))
@pytest.mark.parametrize("kind", ["SPDXJSONExample-v2.3.spdx.json", "SPDXTagExample-v2.3.spdx"])
def test_ntia_conformance_expected_results(vuln_corpus: Path, folder: str, kind: str) -> None:
    report = load_sbom(vuln_corpus / NTIA / folder / kind).quality()
    assert report.missing_ntia() == NTIA_EXPECTED[folder]
    assert report.ntia_conformant is (not NTIA_EXPECTED[folder])


def test_ntia_real_world_and_docfest_sboms_do_not_crash(vuln_corpus: Path) -> None:
    base = vuln_corpus / "sboms/ntia-conformance-checker/tests"
    files = [
        p
        for p in sorted(base.rglob("*"))
        if p.is_file()
        and p.suffix in {".json", ".spdx", ".tag"}
        and "spdx3" not in p.parts
        # the pre-2.2 SPDX JSON layout ("Document" root) is deliberately not read
        and p.name != "SPDXJsonExample.json"
    ]
    assert len(files) > 20
    for path in files:
        loaded = load_sbom(path)
        assert loaded.quality().components == len(loaded.sbom.components)


def test_spdx_examples_and_embedded_sboms(vuln_corpus: Path) -> None:
    tcp = load_sbom(vuln_corpus / "sboms/embedded/FreeRTOS-Plus-TCP-V4.2.0.sbom.spdx")
    assert tcp.sbom.format == "spdx" and tcp.sbom.spec_version == "SPDX-2.2"
    kernel = load_sbom(
        vuln_corpus / "sboms/embedded/FreeRTOS-Kernel-V11.3.0-repository-SPDX2.3.spdx.json"
    )
    assert kernel.sbom.spec_version == "SPDX-2.3"
    maven_path = (
        vuln_corpus / "sboms/spdx-examples/software/example8/spdx2.3/examplemaven-0.0.1.spdx.json"
    )
    doc = json.loads(maven_path.read_text())
    maven = load_sbom(maven_path).sbom
    purls = {
        r["referenceLocator"]
        for p in doc["packages"]
        for r in p.get("externalRefs", [])
        if r["referenceType"] == "purl"
    }
    everything = ([maven.primary] if maven.primary else []) + list(maven.components)
    assert {c.purl for c in everything if c.purl} == purls


def test_cyclonedx_xml_is_read(vuln_corpus: Path) -> None:
    path = (
        vuln_corpus
        / "matching/osv-scanner/cmd/osv-scanner/scan/source/testdata"
        / "sbom-insecure/postgres-stretch.cdx.xml"
    )
    sbom = load_sbom(path).sbom
    assert sbom.format == "cyclonedx"
    assert sbom.components and all(c.name for c in sbom.components)
    assert any(c.purl and c.purl.startswith("pkg:deb/") for c in sbom.components)


def test_xml_bomb_and_external_entities_are_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b'<bom xmlns="http://cyclonedx.org/schema/bom/1.4"><components>&lol2;</components></bom>'
    )
    with pytest.raises(MedSentryError, match=r"bomb\.xml: XML uses a forbidden construct"):
        parse_sbom(bomb, "bomb.xml")
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE bom [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<bom xmlns="http://cyclonedx.org/schema/bom/1.4">&x;</bom>'
    )
    with pytest.raises(MedSentryError, match="forbidden construct"):
        parse_sbom(xxe, "xxe.xml")


def test_bad_sbom_inputs_give_clear_errors() -> None:
    with pytest.raises(MedSentryError, match=r"a\.json: not valid JSON"):
        parse_sbom(b'{"bomFormat": "CycloneDX", ', "a.json")
    with pytest.raises(MedSentryError, match="neither CycloneDX"):
        parse_sbom(b'{"hello": 1}', "b.json")
    with pytest.raises(MedSentryError, match=r"specVersion '9\.9' is not supported"):
        parse_sbom(b'{"bomFormat": "CycloneDX", "specVersion": "9.9"}', "c.json")
    with pytest.raises(MedSentryError, match="not a recognised SBOM"):
        parse_sbom(b"just text", "d.txt")


def test_malformed_purl_is_reported_not_fatal() -> None:
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "components": [
            {"type": "library", "name": "good", "version": "1.0", "purl": "pkg:npm/good@1.0"},
            {"type": "library", "name": "bad", "version": "2.0", "purl": "not a purl"},
        ],
    }
    loaded = parse_sbom(json.dumps(doc).encode(), "mixed.json")
    assert [c.name for c in loaded.sbom.components] == ["good", "bad"]
    report = loaded.quality()
    assert "invalid_purl" in report.flaw_codes()
    assert loaded.schema_errors
