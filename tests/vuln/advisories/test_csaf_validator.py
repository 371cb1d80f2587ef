"""The OASIS CSAF 2.0 validator test set: every must-fail file fails the test it is written
for, every valid file passes all implemented mandatory tests (and the schema)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from medsentry.config import corpus_dir
from medsentry.vuln.advisories.csaf_validate import MANDATORY_TESTS, UNSUPPORTED, validate_csaf

_DATA = corpus_dir() / "vuln/csaf/oasis-csaf/csaf_2.0/test/validator/data"

# Files the OASIS set labels valid although they break a mandatory test it checks elsewhere:
# both repeat one hash algorithm inside one file_hashes list, exactly what 6.1.25-01 (labelled
# invalid) does with sha256. We follow the rule, not these two labels.
CORPUS_CONTRADICTIONS = {
    "optional/oasis_csaf_tc-csaf_2_0-2021-6-2-08-02.json": "md5 twice in one file_hashes (6.1.25)",
    "optional/oasis_csaf_tc-csaf_2_0-2021-6-2-09-02.json": "sha1 twice in one file_hashes (6.1.25)",
}


def _cases() -> list[Any]:
    index = _DATA / "testcases.json"
    if not index.exists():
        return [pytest.param(None, None, None, id="corpus-missing")]
    out = []
    for test in json.loads(index.read_text())["tests"]:
        for case in test.get("failures", []) + test.get("valid", []):
            marks = []
            if test["id"] in UNSUPPORTED:
                marks.append(pytest.mark.xfail(reason=UNSUPPORTED[test["id"]], strict=True))
            if test["group"] != "mandatory" and not case["valid"]:
                continue  # optional/informative tests are not mandatory checks
            if test["id"] in UNSUPPORTED and case["valid"]:
                marks = []
            if case["name"] in CORPUS_CONTRADICTIONS:
                reason = CORPUS_CONTRADICTIONS[case["name"]]
                marks = [pytest.mark.xfail(reason=reason, strict=True)]
            out.append(
                pytest.param(
                    test["id"],
                    case["name"],
                    case["valid"],
                    marks=marks,
                    id=f"{test['id']}:{Path(case['name']).name}",
                )
            )
    return out


@pytest.mark.parametrize(("test_id", "name", "valid"), _cases())
def test_oasis_validator_case(corpus: Path, test_id: str, name: str, valid: bool) -> None:
    doc = json.loads((_DATA / name).read_text())
    report = validate_csaf(doc, name)
    assert "schema" in report.tests_run
    if valid:
        assert report.errors == [], [(i.test, i.message) for i in report.errors]
    else:
        assert test_id in report.failed_tests()


def test_unsupported_tests_are_reported_as_skipped() -> None:
    report = validate_csaf({"document": {}}, "x", schema=False)
    for test_id in UNSUPPORTED:
        assert test_id in report.tests_skipped
    assert "6.1.11" not in report.tests_run
    assert "6.1.31" in MANDATORY_TESTS


def test_version_range_in_product_version_is_flagged() -> None:
    doc = _minimal()
    doc["product_tree"] = {
        "branches": [
            {
                "category": "product_version",
                "name": "3.1 and prior",
                "product": {"name": "X", "product_id": "P1"},
            }
        ]
    }
    report = validate_csaf(doc, "x", schema=False)
    assert "6.1.31" in report.failed_tests()


def test_contradicting_status_and_undefined_ids_are_flagged() -> None:
    doc = _minimal()
    doc["product_tree"] = {"full_product_names": [{"name": "A", "product_id": "P1"}]}
    doc["vulnerabilities"] = [
        {
            "cve": "CVE-2020-0001",
            "product_status": {"known_affected": ["P1", "P9"], "fixed": ["P1"]},
        }
    ]
    failed = validate_csaf(doc, "x", schema=False).failed_tests()
    assert {"6.1.1", "6.1.6"} <= failed


def _minimal() -> dict[str, Any]:
    return {
        "document": {
            "category": "csaf_base",
            "csaf_version": "2.0",
            "publisher": {"category": "other", "name": "t", "namespace": "https://t.example"},
            "title": "t",
            "tracking": {
                "current_release_date": "2024-01-01T00:00:00Z",
                "id": "T-1",
                "initial_release_date": "2024-01-01T00:00:00Z",
                "revision_history": [
                    {"date": "2024-01-01T00:00:00Z", "number": "1", "summary": "x"}
                ],
                "status": "final",
                "version": "1",
            },
        }
    }
