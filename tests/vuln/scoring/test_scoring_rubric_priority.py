"""The medical-device rubric (editable data file) and the finding priority."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from medsentry.errors import ConfigError, InputError
from medsentry.vuln.scoring.priority import Exposure, load_policy, prioritise
from medsentry.vuln.scoring.rubric import BASE_METRIC_VALUES, load_rubric

V = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def test_shipped_rubric_covers_every_base_metric() -> None:
    rubric = load_rubric()
    assert {q.metric for q in rubric.questions} == set(BASE_METRIC_VALUES)
    assert [lvl.key for lvl in rubric.patient_safety.levels] == [
        "none",
        "minor",
        "serious",
        "critical",
    ]


def test_answers_adjust_the_vector_and_say_why() -> None:
    rubric = load_rubric()
    result = rubric.apply(V, {"reach": "adjacent", "privileges": "service"}, "critical")
    assert result.published.overall == 9.8
    assert "AV:A" in result.adjusted.vector and "PR:H" in result.adjusted.vector
    assert "IR:H" in result.adjusted.vector and result.priority_floor == "critical"
    assert result.adjusted.overall < result.published.overall
    changed = {a.metric: (a.old, a.new) for a in result.adjustments}
    assert changed["AV"] == ("N", "A") and changed["PR"] == ("N", "H")
    assert all(a.because for a in result.adjustments)


def test_unanswered_metrics_keep_published_values() -> None:
    result = load_rubric().apply(V, {}, "none")
    assert {a.metric for a in result.adjustments} == {"CR", "IR", "AR"}
    assert result.adjusted.base == result.published.base


def test_bad_answers_are_explained() -> None:
    rubric = load_rubric()
    with pytest.raises(InputError, match="use network"):
        rubric.apply(V, {"reach": "telepathy"})
    with pytest.raises(InputError):
        rubric.apply(V, {"nope": "x"})
    with pytest.raises(InputError):
        rubric.apply(V, {}, "catastrophic")
    with pytest.raises(InputError, match="v3"):
        rubric.apply("AV:N/AC:L/Au:N/C:P/I:P/A:P", {})


def _edited(tmp_path: Path, edit: str) -> Path:
    data = yaml.safe_load(
        (Path(__file__).parents[3] / "src/medsentry/vuln/scoring/rubric.yaml").read_text()
    )
    q = data["questions"][0]
    if edit == "metric":
        q["metric"] = "XX"
    elif edit == "value":
        q["answers"][0]["value"] = "Z"
    elif edit == "default":
        q["default"] = "missing"
    elif edit == "duplicate":
        data["questions"].append(q)
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("edit", ["metric", "value", "default", "duplicate"])
def test_rubric_file_is_validated(tmp_path: Path, edit: str) -> None:
    with pytest.raises(ConfigError):
        load_rubric(_edited(tmp_path, edit))


def test_edited_rubric_is_used(tmp_path: Path) -> None:
    path = _edited(tmp_path, "none")
    path.write_text(path.read_text().replace("default: network", "default: local"))
    rubric = load_rubric(path)
    assert rubric.question("reach").default == "local"


@pytest.mark.parametrize(
    ("kwargs", "level", "words"),
    [
        ({"cvss": 9.8}, "P1", ["CVSS 9.8"]),
        ({"cvss": 7.5}, "P2", ["CVSS 7.5"]),
        ({"cvss": 5.0}, "P3", []),
        ({"cvss": 2.0}, "P4", []),
        ({"cvss": 5.0, "kev": True}, "P2", ["KEV"]),
        ({"cvss": 2.0, "kev": True}, "P2", ["KEV floor"]),
        (
            {"cvss": 5.0, "kev": True, "exposure": Exposure(reachable_from_outside=True)},
            "P1",
            ["reachable"],
        ),
        ({"cvss": 5.0, "epss": 0.5}, "P2", ["EPSS 50.0%"]),
        ({"cvss": 5.0, "epss": 0.001, "epss_percentile": 0.2}, "P3", []),
        ({"cvss": 5.0, "exposure": Exposure(talks_to_internet=True)}, "P2", ["internet"]),
        (
            {"cvss": 5.0, "exposure": Exposure(cleartext_services=("telnet",))},
            "P3",
            ["clear-text telnet"],
        ),
        ({"cvss": 3.0, "safety_floor": "critical"}, "P1", ["patient-safety"]),
        ({"cvss": None}, "P3", ["no CVSS"]),
    ],
)
def test_priority_ladder(kwargs: dict[str, object], level: str, words: list[str]) -> None:
    p = prioritise(**kwargs)  # type: ignore[arg-type]
    assert p.level == level
    assert p.reason.startswith(f"{level} {p.label}:")
    assert "\n" not in p.reason
    for w in words:
        assert w in p.reason


def test_priority_policy_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "priority.yaml"
    path.write_text("cvss_thresholds: {critical: 5.0, high: 7.0, medium: 4.0}\n")
    with pytest.raises(ConfigError):
        load_policy(path)
    path.write_text("cvss_thresholds: {critical: 9.5, high: 8.0, medium: 4.0}\n")
    strict = load_policy(path)
    assert prioritise(cvss=9.0, policy=strict).level == "P2"
    with pytest.raises(ConfigError):
        prioritise(cvss=1.0, safety_floor="urgent")
