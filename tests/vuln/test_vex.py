"""VEX import and export on CISA's use-case files, the OASIS CSAF VEX examples and the
OpenVEX specification's examples."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from medsentry.config import corpus_dir
from medsentry.errors import MedSentryError
from medsentry.vuln.advisories.csaf_validate import validate_csaf
from medsentry.vuln.model import FindingState, Justification
from medsentry.vuln.vex import (
    export_csaf_vex,
    export_cyclonedx_vex,
    normalise,
    parse_vex,
)

_VEX = corpus_dir() / "vuln/sboms/cyclonedx-bom-examples/VEX"
CDX_FILES = (
    sorted(
        str(p.relative_to(_VEX))
        for p in _VEX.rglob("*.json")
        if json.loads(p.read_text()).get("vulnerabilities")
    )
    if _VEX.exists()
    else []
)
_CSAF_VEX = corpus_dir() / "vuln/csaf/oasis-csaf/csaf_2.0/examples/csaf/csaf_vex"
CSAF_FILES = sorted(p.name for p in _CSAF_VEX.glob("*.json")) if _CSAF_VEX.exists() else []


def test_cisa_use_cases_are_present(corpus: Path) -> None:
    assert sum(1 for f in CDX_FILES if f.startswith("CISA-Use-Cases")) >= 8
    assert len(CSAF_FILES) >= 12


@pytest.mark.parametrize("name", CDX_FILES)
def test_cyclonedx_vex_imports_and_round_trips(corpus: Path, name: str) -> None:
    doc = json.loads((_VEX / name).read_text())
    statements = parse_vex(doc, name)
    expected = sum(len(v.get("affects", [])) for v in doc["vulnerabilities"])
    assert len(statements) == expected
    for vuln in doc["vulnerabilities"]:
        state = vuln.get("analysis", {}).get("state")
        mine = [s for s in statements if s.vuln_id == vuln["id"]]
        if state and vuln.get("affects"):
            assert state in {s.native_state for s in mine}
    if not statements:
        return
    again = parse_vex(export_cyclonedx_vex(statements), "export.json")
    assert normalise(again) == normalise(statements)
    csaf = export_csaf_vex(statements)
    report = validate_csaf(csaf, "export.csaf.json")
    assert report.errors == [], [(i.test, i.message) for i in report.errors]
    back = parse_vex(csaf, "export.csaf.json")
    assert {(s.vuln_id, s.state, s.justification) for s in back} == {
        (s.vuln_id, s.state, s.justification) for s in statements
    }


def test_cisa_case_1_not_affected_reads_as_published(corpus: Path) -> None:
    doc = json.loads((_VEX / "CISA-Use-Cases/Case-1/vex-not_affected.json").read_text())
    (statement,) = parse_vex(doc, "case1")
    analysis = doc["vulnerabilities"][0]["analysis"]
    assert statement.state == FindingState.NOT_AFFECTED
    assert statement.native_justification == analysis["justification"]
    assert statement.justification == Justification.VULNERABLE_CODE_NOT_PRESENT
    assert statement.detail == analysis["detail"]
    assert statement.response == tuple(analysis["response"])


@pytest.mark.parametrize("name", CSAF_FILES)
def test_csaf_vex_examples_import_and_round_trip(corpus: Path, name: str) -> None:
    doc = json.loads((_CSAF_VEX / name).read_text())
    statements = parse_vex(doc, name)
    # "recommended" says which version to use, not a VEX status
    expected = sum(
        len(ids)
        for v in doc["vulnerabilities"]
        for group, ids in v.get("product_status", {}).items()
        if group != "recommended"
    )
    assert len(statements) == expected
    exported = export_csaf_vex(statements)
    assert validate_csaf(exported, "export").errors == []
    assert normalise(parse_vex(exported, "export")) == normalise(statements)


def _openvex_examples() -> list[dict[str, object]]:
    spec = corpus_dir() / "vuln/vex/openvex-spec/OPENVEX-SPEC.md"
    if not spec.exists():
        return []
    blocks = re.findall(r"```json\n(.*?)```", spec.read_text(), re.DOTALL)
    docs = []
    for block in blocks:
        try:
            doc = json.loads(block)
        except json.JSONDecodeError:
            continue  # fragments of a document, not whole examples
        if isinstance(doc, dict) and "statements" in doc:
            docs.append(doc)
    return docs


def test_openvex_spec_examples_import(corpus: Path) -> None:
    docs = _openvex_examples()
    assert docs
    for doc in docs:
        statements = parse_vex(doc, "openvex")
        expected = sum(len(st.get("products", [])) for st in doc["statements"])
        assert len(statements) == expected
        for st, source in zip(statements, doc["statements"], strict=False):
            assert st.native_state == source["status"]


def test_openvex_minimal_document() -> None:
    doc = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.org/vex-1",
        "author": "PSIRT",
        "timestamp": "2024-01-01T00:00:00Z",
        "version": 1,
        "statements": [
            {
                "vulnerability": {"name": "CVE-2021-44228"},
                "products": [{"@id": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
                "impact_statement": "JNDI lookups disabled",
            }
        ],
    }
    (st,) = parse_vex(doc, "o.json")
    assert st.product_kind == "purl"
    assert st.justification == Justification.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH
    assert st.detail == "JNDI lookups disabled"


def test_bad_vex_is_refused() -> None:
    with pytest.raises(MedSentryError, match="not a VEX document"):
        parse_vex({"hello": 1}, "x.json")
    bad = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "vulnerabilities": [
            {"id": "CVE-1", "analysis": {"state": "sort_of"}, "affects": [{"ref": "a"}]}
        ],
    }
    with pytest.raises(MedSentryError, match="unknown analysis state"):
        parse_vex(bad, "x.json")
