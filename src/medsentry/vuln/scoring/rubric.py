"""The medical-device CVSS rubric: questions -> base metric values, plus patient-safety impact.

The questions live in ``rubric.yaml`` (editable, validated on load). Applying the rubric to a
published CVSS v3.x vector replaces the base metrics the answers determine, sets the
environmental security requirements from the patient-safety level, rescores, and lists every
change with the question that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from medsentry.errors import ConfigError, InputError
from medsentry.vuln.scoring.cvss import CvssScore, replace_metrics, score_vector

BASE_METRIC_VALUES: dict[str, frozenset[str]] = {
    "AV": frozenset("NALP"),
    "AC": frozenset("LH"),
    "PR": frozenset("NLH"),
    "UI": frozenset("NR"),
    "S": frozenset("UC"),
    "C": frozenset("NLH"),
    "I": frozenset("NLH"),
    "A": frozenset("NLH"),
}
Level = Literal["L", "M", "H"]
Floor = Literal["low", "medium", "high", "critical"]


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    value: str
    text: str


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    metric: str
    text: str
    default: str
    answers: tuple[Answer, ...]

    @model_validator(mode="after")
    def _check(self) -> Question:
        allowed = BASE_METRIC_VALUES.get(self.metric)
        if allowed is None:
            raise ValueError(f"question {self.id}: {self.metric!r} is not a CVSS 3.1 base metric")
        keys = [a.key for a in self.answers]
        if not keys or len(set(keys)) != len(keys):
            raise ValueError(f"question {self.id}: answer keys must be present and unique")
        for a in self.answers:
            if a.value not in allowed:
                raise ValueError(f"question {self.id}: {self.metric}:{a.value} is not valid")
        if self.default not in keys:
            raise ValueError(f"question {self.id}: default {self.default!r} is not an answer")
        return self

    def answer(self, key: str) -> Answer:
        for a in self.answers:
            if a.key == key:
                return a
        options = ", ".join(a.key for a in self.answers)
        raise InputError(f"rubric question {self.id!r} has no answer {key!r}; use {options}")


class SafetyLevel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    text: str
    requirements: dict[Literal["CR", "IR", "AR"], Level]
    priority_floor: Floor | None = None


class PatientSafety(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    text: str
    default: str
    levels: tuple[SafetyLevel, ...]

    @model_validator(mode="after")
    def _check(self) -> PatientSafety:
        keys = [lvl.key for lvl in self.levels]
        if not keys or len(set(keys)) != len(keys) or self.default not in keys:
            raise ValueError("patient_safety: level keys must be unique and include the default")
        return self

    def level(self, key: str) -> SafetyLevel:
        for lvl in self.levels:
            if lvl.key == key:
                return lvl
        options = ", ".join(lvl.key for lvl in self.levels)
        raise InputError(f"unknown patient-safety level {key!r}; use {options}")


class Rubric(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int
    questions: tuple[Question, ...]
    patient_safety: PatientSafety

    @model_validator(mode="after")
    def _unique(self) -> Rubric:
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError("question ids must be unique")
        return self

    def question(self, qid: str) -> Question:
        for q in self.questions:
            if q.id == qid:
                return q
        raise InputError(f"the rubric has no question {qid!r}")

    def apply(
        self,
        vector: str,
        answers: dict[str, str] | None = None,
        patient_safety: str | None = None,
    ) -> RubricResult:
        """Adjust a CVSS v3.x vector with the given answers (question id -> answer key).

        Only answered questions change the vector; unanswered base metrics keep the
        published value. The patient-safety level (default: the rubric's default) sets
        CR/IR/AR.
        """
        if not vector.startswith(("CVSS:3.0/", "CVSS:3.1/")):
            raise InputError("the medical-device rubric adjusts CVSS v3.x vectors only")
        published = score_vector(vector)
        current = dict(p.split(":", 1) for p in vector.split("/")[1:] if ":" in p)
        changes: list[Adjustment] = []
        new_values: dict[str, str] = {}
        for qid, key in (answers or {}).items():
            question = self.question(qid)
            answer = question.answer(key)
            old = current.get(question.metric, "")
            new_values[question.metric] = answer.value
            if old != answer.value:
                changes.append(Adjustment(question.metric, old, answer.value, question.text))
        level = self.patient_safety.level(patient_safety or self.patient_safety.default)
        for metric, value in level.requirements.items():
            old = current.get(metric, "X")
            new_values[metric] = value
            if old != value:
                changes.append(Adjustment(metric, old, value, self.patient_safety.text))
        adjusted = replace_metrics(vector, new_values)
        return RubricResult(published, score_vector(adjusted), tuple(changes), level)


@dataclass(frozen=True, slots=True)
class Adjustment:
    metric: str
    old: str
    new: str
    because: str  # the question that set it


@dataclass(frozen=True, slots=True)
class RubricResult:
    published: CvssScore
    adjusted: CvssScore
    adjustments: tuple[Adjustment, ...]
    safety: SafetyLevel

    @property
    def priority_floor(self) -> str | None:
        return self.safety.priority_floor


def load_rubric(path: Path | None = None) -> Rubric:
    """The rubric from ``path``, or the one shipped with MedSentry; validated."""
    if path is None:
        return _default_rubric()
    return _parse(path.read_text(encoding="utf-8"), str(path))


@cache
def _default_rubric() -> Rubric:
    text = resources.files("medsentry.vuln.scoring").joinpath("rubric.yaml").read_text("utf-8")
    return _parse(text, "rubric.yaml")


def _parse(text: str, source: str) -> Rubric:
    try:
        return Rubric.model_validate(yaml.safe_load(text))
    except (ValidationError, yaml.YAMLError) as exc:
        raise ConfigError(f"{source} is not a valid rubric; fix it and retry: {exc}") from exc
