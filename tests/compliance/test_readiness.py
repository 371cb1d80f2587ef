"""Readiness self-assessment: answers blended with evidence into a level and a roadmap."""

from __future__ import annotations

from pathlib import Path

import pytest

from medsentry.compliance.mds2.export import DraftAnswer, write_standard
from medsentry.compliance.mds2.reader import read_form
from medsentry.compliance.mds2.repository import save_form
from medsentry.compliance.readiness import (
    evaluate,
    latest_readiness,
    load_questionnaire,
    read_answers,
    save_readiness,
)
from medsentry.errors import InputError
from medsentry.store.db import Store

from . import builders as b

BEST = {"practice": "measured", "knowledge": "owned"}


def _all(profile: str, scale_value: dict[str, str]) -> dict[str, str]:
    q = load_questionnaire()
    return {x.id: scale_value[x.scale] for x in q.for_profile(profile)}


def test_questionnaire_covers_the_four_domains() -> None:
    q = load_questionnaire()
    for profile in ("hospital", "manufacturer"):
        domains = {x.domain for x in q.for_profile(profile)}
        assert domains == {"preparedness", "awareness", "monitoring", "response"}


def test_nothing_answered_is_level_one(store: Store) -> None:
    with store.session() as s:
        result = evaluate(s, "hospital", {})
    assert result.level == 1
    assert result.overall < 20
    assert result.roadmap and result.roadmap[0].horizon == "now"
    assert {a["status"] for a in result.applicable} >= {"in force", "proposed (not in force)"}


def test_good_answers_with_supporting_data_reach_a_high_level(store: Store, tmp_path: Path) -> None:
    b.device(store, "10.1.0.30", type="infusion_pump", manufacturer="Acme", model="P1")
    b.device(store, "10.2.0.50", type="workstation", manufacturer="HP", model="Z2")
    b.tls_session(store, "10.1.0.30", "10.1.0.21")
    form = write_standard(
        tmp_path / "p1.csv",
        {"DOC-1": DraftAnswer("Acme", ""), "DOC-3": DraftAnswer("P1", "")},
        title="t",
    )
    with store.session() as s:
        save_form(s, read_form(form), actor="t")
        result = evaluate(s, "hospital", _all("hospital", BEST))
    assert result.level >= 4
    assert not any(q.contradicted for q in result.questions)


def test_answers_contradicted_by_data_are_flagged_and_ranked_first(store: Store) -> None:
    b.device(store, "10.0.0.30", type="infusion_pump")
    b.device(store, "10.0.0.50", type="workstation")
    b.hl7_phi(store, "10.0.0.30", "10.0.0.21")
    answers = _all("hospital", BEST)
    with store.session() as s:
        result = evaluate(s, "hospital", answers)
    flagged = {q.question.id for q in result.questions if q.contradicted}
    # Claims of routine segmentation and traffic review meet a flat network and clear-text PHI.
    assert "prep.segmentation" in flagged
    first_steps = [step.action for step in result.roadmap[:3]]
    assert any("segments" in step for step in first_steps)
    assert any("contradicted" in step.why for step in result.roadmap)
    encrypt = [s for s in result.roadmap if s.action.startswith("Encrypt patient data in transit")]
    assert len(encrypt) == 1  # one step for the root cause, however many controls it fails
    assert "45 CFR 164.312(e)(1)" in encrypt[0].why
    assert encrypt[0].horizon == "now"


def test_weak_domain_caps_the_level(store: Store) -> None:
    answers = _all("manufacturer", BEST)
    for qid in [k for k in answers if k.startswith("aware.")]:
        answers[qid] = "unknown"
    with store.session() as s:
        result = evaluate(s, "manufacturer", answers)
    assert result.domain_scores["awareness"] == 0.0
    assert result.level <= 2


def test_invalid_answers(store: Store, tmp_path: Path) -> None:
    with store.session() as s:
        with pytest.raises(InputError, match="not one of"):
            evaluate(s, "hospital", {"prep.inventory": "sometimes"})
        with pytest.raises(InputError, match="unknown question"):
            evaluate(s, "hospital", {"prep.sbom": "routine"})  # a manufacturer question
    path = tmp_path / "a.yaml"
    path.write_text("- not a mapping\n")
    with pytest.raises(InputError, match="mapping"):
        read_answers(path)


def test_kept_result(store: Store) -> None:
    with store.session() as s:
        result = evaluate(s, "manufacturer", {"resp.plan": "routine"}, now=500)
        save_readiness(s, result, "qa")
    with store.session() as s:
        kept = latest_readiness(s, "manufacturer")
        assert latest_readiness(s, "hospital") is None
    assert kept is not None
    assert kept["level"] == result.level and kept["answers"] == {"resp.plan": "routine"}
    assert kept["roadmap"][0]["action"] == result.roadmap[0].action
