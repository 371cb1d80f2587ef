"""Readiness self-assessment: a short questionnaire (preparedness, awareness of the
regulations that apply, monitoring practice, incident response) scored together with the
automated evidence into a maturity level and a prioritised roadmap.

A question's score blends the person's answer with what the store shows: where an evaluator
has evidence, the score is the mean of both, and an answer the data contradicts (the answer
says "routine", the data says "fail") is flagged. The roadmap lists a step for each gap,
ranked by weight times the size of the gap, with failing controls of the profile's
assessment added as "fix" steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from medsentry.compliance.catalogue import load_profile
from medsentry.compliance.datafile import load
from medsentry.compliance.evaluators import Context, Status, assess, run_evaluator
from medsentry.errors import ConfigError, InputError
from medsentry.store.models.compliance import ReadinessRow

QUESTIONNAIRE_FILE = Path(__file__).with_name("readiness.yaml")
MAX_SCORE = 4
EVIDENCE_SCORE = {Status.PASS: 4.0, Status.PARTIAL: 2.0, Status.FAIL: 0.0}


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str
    label: str
    score: int = Field(ge=0, le=MAX_SCORE)


class Level(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    level: int
    name: str
    min_score: float


class Domain(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    weight: float = Field(gt=0)


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    domain: str
    profiles: tuple[Literal["hospital", "manufacturer"], ...]
    scale: str
    text: str
    step: str
    weight: float = Field(gt=0)
    evidence: tuple[str, ...] = ()
    evidence_params: dict[str, dict[str, Any]] = Field(default_factory=dict)


class Questionnaire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    levels: tuple[Level, ...]
    domains: dict[str, Domain]
    scales: dict[str, tuple[Option, ...]]
    questions: tuple[Question, ...]
    remedies: dict[str, str]

    @model_validator(mode="after")
    def _consistent(self) -> Questionnaire:
        ids = [q.id for q in self.questions]
        if len(ids) != len(set(ids)):
            raise ValueError("question ids must be unique")
        for q in self.questions:
            if q.domain not in self.domains:
                raise ValueError(f"question {q.id}: unknown domain {q.domain}")
            if q.scale not in self.scales:
                raise ValueError(f"question {q.id}: unknown scale {q.scale}")
        return self

    def for_profile(self, profile: str) -> list[Question]:
        return [q for q in self.questions if profile in q.profiles]

    def options(self, question: Question) -> tuple[Option, ...]:
        return self.scales[question.scale]


@cache
def load_questionnaire(path: Path = QUESTIONNAIRE_FILE) -> Questionnaire:
    questionnaire = load(Questionnaire, path, "questionnaire")
    from medsentry.compliance.evaluators import check_params, registered

    known = registered()
    missing = set(known) - set(questionnaire.remedies)
    if missing:
        raise ConfigError(f"{path}: no remedy for evaluator(s) {sorted(missing)}")
    for q in questionnaire.questions:
        for evaluator_id in q.evidence:
            if evaluator_id not in known:
                raise ConfigError(f"{path}: question {q.id} names unknown evaluator {evaluator_id}")
            check_params(evaluator_id, q.evidence_params.get(evaluator_id, {}), where=q.id)
    return questionnaire


@dataclass
class QuestionScore:
    question: Question
    answer: str | None
    answer_score: float | None
    evidence: list[tuple[str, str, str]]  # (evaluator, status, summary)
    score: float  # 0..4
    contradicted: bool


@dataclass
class RoadmapStep:
    priority: float
    horizon: str  # now, next, later
    domain: str
    action: str
    why: str

    def to_json(self) -> dict[str, Any]:
        return {
            "priority": round(self.priority, 2),
            "horizon": self.horizon,
            "domain": self.domain,
            "action": self.action,
            "why": self.why,
        }


@dataclass
class Readiness:
    profile: str
    at: float
    version: str
    questions: list[QuestionScore]
    domain_scores: dict[str, float]  # percent
    overall: float  # percent
    level: int
    level_name: str
    roadmap: list[RoadmapStep]
    applicable: list[dict[str, str]] = field(default_factory=list)
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "at": self.at,
            "questionnaire_version": self.version,
            "overall": self.overall,
            "level": self.level,
            "level_name": self.level_name,
            "domains": self.domain_scores,
            "applicable": self.applicable,
            "questions": [
                {
                    "id": q.question.id,
                    "domain": q.question.domain,
                    "text": q.question.text,
                    "answer": q.answer,
                    "answer_score": q.answer_score,
                    "evidence": [
                        {"evaluator": e, "status": s, "summary": m} for e, s, m in q.evidence
                    ],
                    "score": round(q.score, 2),
                    "contradicted": q.contradicted,
                }
                for q in self.questions
            ],
            "roadmap": [s.to_json() for s in self.roadmap],
        }


def _score_question(
    ctx: Context, questionnaire: Questionnaire, question: Question, answer: str | None
) -> QuestionScore:
    options = {o.value: o for o in questionnaire.options(question)}
    if answer is not None and answer not in options:
        raise InputError(f"{question.id}: answer {answer!r} is not one of {', '.join(options)}")
    answer_score = float(options[answer].score) if answer is not None else None
    evidence = []
    scores = []
    for evaluator_id in question.evidence:
        result = run_evaluator(ctx, evaluator_id, question.evidence_params.get(evaluator_id))
        evidence.append((evaluator_id, result.status.value, result.summary))
        if result.status in EVIDENCE_SCORE:
            scores.append(EVIDENCE_SCORE[result.status])
    evidence_score = sum(scores) / len(scores) if scores else None
    parts = [s for s in (answer_score, evidence_score) if s is not None]
    score = sum(parts) / len(parts) if parts else 0.0
    # A confident answer ("routine", "measured") that any evidence shows failing.
    contradicted = (
        answer_score is not None
        and answer_score >= 3
        and any(status == Status.FAIL.value for _, status, _ in evidence)
    )
    return QuestionScore(question, answer, answer_score, evidence, score, contradicted)


def _level(questionnaire: Questionnaire, overall: float, lowest: float) -> tuple[int, str]:
    levels = sorted(questionnaire.levels, key=lambda lv: lv.min_score)
    reached = [lv for lv in levels if overall >= lv.min_score][-1]
    floor = [lv for lv in levels if lowest >= lv.min_score][-1]
    # A weak domain holds the whole organisation back: at most one level above it.
    capped = min(reached.level, floor.level + 1)
    chosen = next(lv for lv in levels if lv.level == capped)
    return chosen.level, chosen.name


def _horizon(rank: int, priority: float) -> str:
    if rank < 3 or priority >= 2.5:
        return "now"
    if rank < 7 or priority >= 1.0:
        return "next"
    return "later"


def _question_step(s: QuestionScore) -> RoadmapStep:
    gap = (MAX_SCORE - s.score) / MAX_SCORE
    why = f"scored {s.score:.1f}/4"
    priority = s.question.weight * gap
    if s.contradicted:
        # A confident answer the data disproves is a blind spot: rank it high.
        why += "; your answer is contradicted by the data"
        priority = s.question.weight * max(gap, 0.5) * 1.5
    failing = [m for _, status, m in s.evidence if status == Status.FAIL.value]
    if failing:
        why += "; " + failing[0]
    return RoadmapStep(priority, "", s.question.domain, s.question.step, why)


def _root_cause_steps(assessment: Any, q: Questionnaire) -> list[RoadmapStep]:
    """One step per failing evaluator, ranked by how many controls it fails."""
    failing: dict[str, list[Any]] = {}
    summaries: dict[str, str] = {}
    for result in assessment.results:
        for evidence in result.evidence:
            if evidence.status is Status.FAIL:
                failing.setdefault(evidence.evaluator, []).append(result.control)
                summaries.setdefault(evidence.evaluator, evidence.summary)
    steps = []
    for evaluator_id, controls in failing.items():
        in_force = [c for c in controls if c.status == "final"]
        priority = min(3.0, 1.5 + 0.15 * len(controls) + (0.5 if in_force else 0.0))
        refs = ", ".join(dict.fromkeys(c.reference for c in (in_force or controls)))
        steps.append(
            RoadmapStep(
                priority,
                "",
                "compliance",
                q.remedies[evaluator_id],
                f"{summaries[evaluator_id][:200]}; fails {len(controls)} control(s): {refs[:200]}",
            )
        )
    return steps


def evaluate(
    session: Session,
    profile: str,
    answers: dict[str, str],
    *,
    now: float | None = None,
    questionnaire: Questionnaire | None = None,
) -> Readiness:
    """Score ``answers`` (question id -> option value) with the store's evidence."""
    q = questionnaire or load_questionnaire()
    questions = q.for_profile(profile)
    if not questions:
        raise InputError(f"no readiness questions for profile {profile!r}")
    unknown = set(answers) - {x.id for x in questions}
    if unknown:
        raise InputError(f"unknown question id(s) for {profile}: {', '.join(sorted(unknown))}")
    at = now if now is not None else time.time()
    ctx = Context(session, now=at)
    scored = [_score_question(ctx, q, question, answers.get(question.id)) for question in questions]

    domain_scores: dict[str, float] = {}
    for domain in q.domains:
        items = [s for s in scored if s.question.domain == domain]
        if items:
            total = sum(s.question.weight for s in items)
            value = sum(s.score * s.question.weight for s in items) / total
            domain_scores[domain] = round(100.0 * value / MAX_SCORE, 1)
    weights = {d: q.domains[d].weight for d in domain_scores}
    overall = round(
        sum(domain_scores[d] * w for d, w in weights.items()) / sum(weights.values()), 1
    )
    level, name = _level(q, overall, min(domain_scores.values()))

    steps = [_question_step(s) for s in scored if s.score < MAX_SCORE]
    steps += _root_cause_steps(assess(session, profile, now=at), q)
    # Several controls often fail for one cause: keep one step per action text.
    unique: dict[str, RoadmapStep] = {}
    for step in sorted(steps, key=lambda st: -st.priority):
        unique.setdefault(step.action, step)
    roadmap = list(unique.values())
    for rank, step in enumerate(roadmap):
        step.horizon = _horizon(rank, step.priority)
    applicable = [
        {"catalogue": c.id, "title": c.title, "status": _catalogue_status(c.controls)}
        for c in load_profile(profile)
    ]
    return Readiness(
        profile, at, q.version, scored, domain_scores, overall, level, name, roadmap, applicable
    )


def _catalogue_status(controls: Any) -> str:
    statuses = {c.status for c in controls}
    if statuses == {"proposed"}:
        return "proposed (not in force)"
    if statuses <= {"guidance", "voluntary", "standard"}:
        return "voluntary / guidance"
    return "in force"


def save_readiness(session: Session, result: Readiness, actor: str) -> int:
    row = ReadinessRow(
        profile=result.profile,
        at=result.at,
        actor=actor[:256],
        questionnaire_version=result.version,
        answers={q.question.id: q.answer for q in result.questions if q.answer is not None},
        scores={"overall": result.overall, "domains": result.domain_scores},
        level=result.level,
        roadmap=[s.to_json() for s in result.roadmap],
    )
    session.add(row)
    session.flush()
    result.id = row.id
    return row.id


def latest_readiness(session: Session, profile: str) -> dict[str, Any] | None:
    from sqlalchemy import select

    row = session.scalar(
        select(ReadinessRow)
        .where(ReadinessRow.profile == profile)
        .order_by(ReadinessRow.at.desc(), ReadinessRow.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    return {
        "id": row.id,
        "at": row.at,
        "actor": row.actor,
        "level": row.level,
        "scores": row.scores,
        "answers": row.answers,
        "roadmap": row.roadmap,
    }


def read_answers(path: Path) -> dict[str, str]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read the answers ({exc})") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of question id to answer value")
    return {str(k): str(v) for k, v in data.items() if v is not None}
