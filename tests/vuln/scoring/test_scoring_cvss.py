"""CVSS scores against the Red Hat cvss test vectors (computed with FIRST's calculators)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from medsentry.vuln.scoring.cvss import CvssError, replace_metrics, score_vector, severity_of

FILES = [
    "vectors_simple3",
    "vectors_simple31",
    "vectors_calculator3",
    "vectors_cvsslib3",
    "vectors_simple4",
    "vectors_supplemental4",
    "vectors_security4",
    "vectors_threat4",
]


def test_red_hat_vectors_give_expected_scores(corpus: Path) -> None:
    base = corpus / "vuln/cvss/redhat-cvss-vectors/tests"
    checked = 0
    mismatches = []
    for name in FILES:
        for line in (base / name).read_text().splitlines():
            if " - " not in line:
                continue
            vector, expected_text = line.split(" - ", 1)
            expected = [float(x) for x in re.findall(r"\d+\.\d+|\d+", expected_text)]
            s = score_vector(vector)
            got = [s.overall] if s.version == "4.0" else [s.base, s.temporal, s.environmental]
            if got[: len(expected)] != expected:
                mismatches.append((name, vector, expected, got))
            assert s.severity == severity_of(s.overall)
            checked += 1
    assert checked > 6800
    assert mismatches == []
    print(f"Red Hat CVSS vectors: {checked}/{checked} scores as expected")


def test_versions_and_nomenclature() -> None:
    v31 = score_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    assert (v31.version, v31.base, v31.severity, v31.nomenclature) == (
        "3.1",
        9.8,
        "Critical",
        "CVSS-B",
    )
    t = score_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P")
    assert t.nomenclature == "CVSS-BT" and t.overall == t.temporal < t.base
    v30 = score_vector("CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N")
    assert v30.version == "3.0" and v30.severity == "Low"
    v2 = score_vector("AV:N/AC:L/Au:N/C:P/I:P/A:P")
    assert (v2.version, v2.base, v2.severity) == ("2.0", 7.5, "High")
    v4 = score_vector("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
    assert (v4.version, v4.overall, v4.severity, v4.nomenclature) == (
        "4.0",
        9.3,
        "Critical",
        "CVSS-B",
    )
    v4e = score_vector("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U")
    assert v4e.nomenclature == "CVSS-BT" and v4e.overall < 9.3


@pytest.mark.parametrize("vector", ["", "CVSS:3.1/AV:X", "CVSS:4.0/AV:N", "nonsense"])
def test_invalid_vectors(vector: str) -> None:
    with pytest.raises(CvssError):
        score_vector(vector)


def test_replace_metrics() -> None:
    v = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    assert replace_metrics(v, {"AV": "A", "CR": "H"}).endswith(
        "/AV:A/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/CR:H"[0:0] + "CR:H"
    )
    assert "AV:A" in replace_metrics(v, {"AV": "A"})
