"""The vers specification test vectors and univers' own test data, run through our wrappers.

Every case must pass except those listed in ``UNSUPPORTED`` (with the reason); for those the
test checks we behave as documented.
"""

from __future__ import annotations

import json
import re
from functools import cmp_to_key
from pathlib import Path
from typing import Any

import pytest
from univers.version_range import VersionRange

from medsentry.errors import InputError
from medsentry.vuln.match.purl import compare_versions, parse_version
from medsentry.vuln.match.vers import (
    VersError,
    canonical_vers,
    check_vers,
    compile_vers,
    parse_vers,
    vers_from_native,
)

NUGET_SPELLING = (
    "NuGet comparison vectors also normalise pre-release labels to lowercase in the expected "
    "output; we order correctly but keep the spelling the SBOM used"
)


def _sorted(scheme: str, versions: list[str]) -> list[str]:
    return sorted(versions, key=cmp_to_key(lambda a, b: compare_versions(scheme, a, b)))


def _run(case: dict[str, Any], fname: str) -> Any:
    kind, given = case["test_type"], case["input"]
    if kind == "comparison":
        return _sorted(given["input_scheme"], given["versions"])
    if kind == "equality":
        a, b = given["versions"]
        return compare_versions(given["input_scheme"], a, b) == 0
    if kind == "containment":
        return parse_vers(given["vers"]).contains(given["version"])
    if kind == "parse":
        rng = parse_vers(given, strict=True)
        return {
            "scheme": rng.scheme,
            "version_constraints": [[c.comparator, c.version] for c in rng.constraints],
        }
    if kind == "validate":
        return canonical_vers(given)
    if kind == "roundtrip":
        return canonical_vers(given["vers"])
    if kind == "from_native":
        dialect = "gitlab" if "gitlab" in fname else "native"
        return vers_from_native(given["scheme"], given["native_range"], dialect)
    raise AssertionError(f"unknown test type {kind}")


def _run_files(paths: list[Path]) -> tuple[int, int, list[tuple[str, dict[str, Any], Any]]]:
    total = passed = 0
    misses = []
    for path in paths:
        data = json.loads(path.read_text())
        for case in data["tests"] if isinstance(data, dict) else data:
            total += 1
            try:
                got: Any = _run(case, path.name)
                ok = not case.get("expected_failure") and got == case.get("expected_output")
            except InputError:
                got, ok = InputError, bool(case.get("expected_failure"))
            if ok:
                passed += 1
            else:
                misses.append((path.name, case, got))
    return total, passed, misses


def _check_only_nuget_spelling(misses: list[tuple[str, dict[str, Any], Any]]) -> None:
    for fname, case, got in misses:
        assert fname.startswith("nuget_version_cmp"), (fname, case, got, NUGET_SPELLING)
        assert [v.lower() for v in got] == [v.lower() for v in case["expected_output"]]


def test_vers_specification_vectors(corpus: Path) -> None:
    paths = sorted((corpus / "vuln/matching/vers-spec/tests").glob("*.json"))
    total, passed, misses = _run_files(paths)
    assert total > 2500
    assert len(misses) == 4
    _check_only_nuget_spelling(misses)
    print(f"vers spec vectors: {passed}/{total} pass; 4 nuget spelling cases documented")


def test_univers_test_data(corpus: Path) -> None:
    base = corpus / "vuln/matching/univers/tests/data"
    total, passed, misses = _run_files(sorted(base.glob("schema/**/*.json")))
    assert total > 7000
    assert len(misses) == 4
    _check_only_nuget_spelling(misses)
    print(f"univers data: {passed}/{total} pass; 4 nuget spelling cases documented")


def test_univers_alpine_and_rpm_comparison_lists(corpus: Path) -> None:
    base = corpus / "vuln/matching/univers/tests/data"
    checked = 0
    for line in (base / "alpine_test.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[1] not in "<>=":
            continue
        expected = {"<": -1, "=": 0, ">": 1}[parts[1]]
        assert compare_versions("apk", parts[0], parts[2]) == expected, line
        checked += 1
    rpm_re = re.compile(r"^RPMVERCMP\(([^,]*), ([^,]*), (-?\d)\)")
    for line in (base / "rpmvercmp.at").read_text().splitlines():
        m = rpm_re.match(line)
        if m:
            assert compare_versions("rpm", m[1], m[2]) == int(m[3]), line
            checked += 1
    versort = json.loads((base / "openssl/openssl_versort_expected.json").read_text())
    order = [e["string"] for e in versort]
    assert _sorted("openssl", list(reversed(order))) == order
    assert checked > 100


# Cases of the vers canonical-parse suite that univers 32 accepts although the spec says
# a tool shall reject them; our strict parser rejects all of them.
UNIVERS_ACCEPTS = [
    "vers:npm/>=1.0.0| <2.0.0",
    "vers:npm/|>=1.0.0|<2.0.0",
    "vers:npm/>=1.0.0|<2.0.0|",
    "vers:npm/>=2.0.0|<1.0.0",
    "vers:npm/1.0%2G0",
]


@pytest.mark.parametrize("text", UNIVERS_ACCEPTS)
def test_strict_parser_rejects_what_univers_accepts(text: str) -> None:
    VersionRange.from_string(text)  # documents the gap: univers takes it
    with pytest.raises(VersError):
        parse_vers(text, strict=True)
    assert parse_vers(text).scheme == "npm"  # lenient mode still understands it


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("vers:npm/1.0.0|1.0.0", "duplicate"),
        ("vers:npm/>=1.0.0|<2.0.0|*", "star"),
        ("vers:npm/1.0%3A0", "percent"),
        ("vers:npm/1.0%7c0", "percent"),
        ("VERS:npm/1.0.0", "scheme"),
        ("vers:npm/>1.0.0|>=2.0.0", "sequence"),
    ],
)
def test_check_vers_names_the_problem(text: str, code: str) -> None:
    assert code in {p.code for p in check_vers(text)}


def test_redundant_sequences_do_not_fail_strict_parsing() -> None:
    problems = check_vers("vers:pypi/>0.0.1|>=0.0.2")
    assert [p.level for p in problems] == ["redundant"]
    assert parse_vers("vers:pypi/>0.0.1|>=0.0.2", strict=True).scheme == "pypi"


def test_percent_decoding_and_encoding_roundtrip() -> None:
    rng = parse_vers("vers:npm/1.0%252F0", strict=True)
    assert rng.constraints[0].version == "1.0%2F0"
    assert rng.to_string() == "vers:npm/1.0%252F0"


@pytest.mark.parametrize(
    ("vers", "version", "inside"),
    [
        ("vers:generic/>=2.0|<2.5", "2.4.9", True),
        ("vers:generic/>=2.0|<2.5", "2.5", False),
        ("vers:generic/<=06.08.00.00", "6.8", True),
        ("vers:generic/<=06.08.00.00", "6.8.0.1", False),
        ("vers:generic/<1.0.2k", "1.0.2j", True),
        ("vers:deb/>=1:1.0|<1:2.0|!=1:1.5", "1:1.5", False),
        ("vers:deb/>=1:1.0|<1:2.0|!=1:1.5", "1:1.6", True),
        ("vers:none/*", "1.0", False),
        ("vers:all/*", "anything", True),
        ("vers:npm/<1.0.0|>=2.0.0|<3.0.0", "1.5.0", False),
        ("vers:npm/<1.0.0|>=2.0.0|<3.0.0", "2.5.0", True),
        ("vers:npm/>=4.0.0", "5.0.0", True),
    ],
)
def test_containment(vers: str, version: str, inside: bool) -> None:
    assert parse_vers(vers).contains(version) is inside
    compiled = compile_vers(vers)
    assert compiled.contains(parse_version(compiled.scheme, version)) is inside


def test_invalid_version_in_scheme_raises() -> None:
    with pytest.raises(InputError):
        parse_vers("vers:npm/<1.0.0").contains("not.a.semver!")
    with pytest.raises(InputError):
        vers_from_native("no-such-scheme", ">1")
