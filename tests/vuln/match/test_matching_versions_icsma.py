"""The tolerant vendor version parser, on hand-made cases and on every version string of
the ICSMA CSAF product trees."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from medsentry.vuln.match.vers import parse_vers
from medsentry.vuln.match.versions import CONFIDENCE_EXACT, VendorRange, parse_version_text


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("06.08.00.00 and prior", ["6.8", "06.07.99", "1.0"], ["6.8.0.1", "7.0"]),
        ("all versions", ["0.1", "99"], []),
        ("< V14.2.0.3", ["14.2.0.2", "V13.9"], ["14.2.0.3", "14.3"]),
        ("<=3.1", ["3.1", "3.0.9"], ["3.1.1"]),
        ("versions 2.0 through 2.5", ["2.0", "2.3.7", "2.5"], ["1.9", "2.5.1"]),
        ("v9.2.x", ["9.2", "9.2.17"], ["9.3", "9.1.9"]),
        ("prior to 4.0", ["3.9.9"], ["4.0", "4.0.0"]),
        ("before 3.2.1", ["3.2.0"], ["3.2.1"]),
        (">= 1.3.4 | < 1.5.3", ["1.3.4", "1.5.2"], ["1.3.3", "1.5.3"]),
        ("1.1 | 1.2 | 1.4", ["1.2", "1.4.0"], ["1.3"]),
        ("2.3.6 and  below", ["2.3.6"], ["2.3.7"]),
        ("<= 12.2.x.x", ["12.2.99.1"], ["12.3"]),
        ("< B.06.18", ["B.06.17", "A.99"], ["B.06.18", "C.01"]),
        ("<= 2.4A", ["2.4", "2.4A"], ["2.4B", "2.5"]),
        ("vers:all/<V13.2.0.13", ["13.2.0.12"], ["13.2.0.13"]),
        ("Rev B-M", ["C", "M"], ["A", "N"]),
        ("3.2.1 and later", ["3.2.1", "10.0"], ["3.2"]),
    ],
)
def test_vendor_text_ranges(text: str, inside: list[str], outside: list[str]) -> None:
    parsed = parse_version_text(text)
    assert parsed.ok and parsed.range is not None, parsed.reason
    assert 0 < parsed.confidence <= CONFIDENCE_EXACT
    for v in inside:
        assert parsed.range.contains(v), (text, v)
    for v in outside:
        assert not parsed.range.contains(v), (text, v)
    # the vers form says the same thing
    vers = parse_vers(parsed.range.to_vers())
    for v in inside + outside:
        if len(parsed.range.intervals) <= 1 and not parsed.range.exact:
            assert vers.contains(v) == parsed.range.contains(v), (text, v)


@pytest.mark.parametrize(
    ("text", "reason_word"),
    [
        ("manufactured prior to August 28", "date"),
        ("<8/30/2024", "date"),
        ("MMT-1710", "model"),
        ("IPv4", "not a version"),
        ("CoaguChek XS Plus", "no version"),
        ("", "empty"),
    ],
)
def test_unparseable_text_says_why(text: str, reason_word: str) -> None:
    parsed = parse_version_text(text)
    assert not parsed.ok and parsed.range is None
    assert parsed.reason and reason_word in parsed.reason


def test_notes_lower_the_confidence() -> None:
    plain = parse_version_text("<= 1.54")
    noted = parse_version_text("<= 1.54 (integrated into GE MobileLink)")
    assert noted.notes == ("integrated into GE MobileLink",)
    assert noted.confidence < plain.confidence
    assert noted.range == plain.range


def test_describe_and_vers() -> None:
    rng = parse_version_text(">= 2.0 | <= 3.0").range
    assert rng == parse_version_text("versions 2.0 through 3.0").range
    assert rng is not None and rng.describe() == ">= 2.0 and <= 3.0"
    assert rng.to_vers() == "vers:generic/>=2.0|<=3.0"
    assert VendorRange(all_versions=True).to_vers() == "vers:generic/*"


def _walk(branches: list[dict[str, Any]], leaf: Counter[str], full: Counter[str]) -> None:
    for b in branches:
        if "branches" in b:
            _walk(b["branches"], leaf, full)
        elif b["category"] in ("product_version", "product_version_range"):
            leaf[b["name"]] += 1
            name = b.get("product", {}).get("name", "")
            if ": " in name:
                full[name.rsplit(": ", 1)[1].strip()] += 1


def test_icsma_product_tree_version_strings(corpus: Path) -> None:
    leaf: Counter[str] = Counter()
    full: Counter[str] = Counter()
    files = sorted((corpus / "vuln/csaf/icsma").glob("*.json"))
    assert len(files) == 144
    for path in files:
        tree = json.loads(path.read_text(encoding="utf-8")).get("product_tree", {})
        _walk(tree.get("branches", []), leaf, full)
    assert len(leaf) > 200 and len(full) > 200
    report = []
    for label, strings in (("version fields", leaf), ("product-name suffixes", full)):
        parsed = parsed_occurrences = 0
        reasons: Counter[str] = Counter()
        for text, count in strings.items():
            result = parse_version_text(text)
            if result.ok:
                assert result.range is not None
                assert result.range.all_versions or result.range.exact or result.range.intervals
                assert 0 < result.confidence <= CONFIDENCE_EXACT
                parsed += 1
                parsed_occurrences += count
            else:
                assert result.range is None and result.reason, text
                reasons[result.reason.split(" is not")[0][:40]] += count
        rate = parsed / len(strings)
        total = sum(strings.values())
        report.append(
            f"{label}: {parsed}/{len(strings)} distinct parsed ({rate:.0%}), "
            f"{parsed_occurrences}/{total} occurrences; unparsed: {dict(reasons.most_common(4))}"
        )
        # most of what is left are model numbers, product names and dates, not versions
        assert rate > 0.7
    print("ICSMA version text:", "; ".join(report))
