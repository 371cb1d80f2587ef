"""Evidence evaluators and the assessment that runs them for a profile.

An evaluator reads the store (through :class:`~medsentry.compliance.observe.Observations`)
and answers pass / partial / fail / not assessed, listing the evidence it used: devices by
name, counts, ratios. Each lives in a small module of ``medsentry.compliance.evidence`` and
registers itself with :func:`evaluator`, declaring a pydantic model for the parameters a
catalogue may give it.

A control's status combines its evaluators' answers with the latest attestation a person
made for it (see :func:`combine`): data that shows a failure is never hidden by an
attestation, and what no data can show is answered by the attestation alone.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.orm import Session

from medsentry.compliance.catalogue import Catalogue, Control, load_profile
from medsentry.compliance.observe import Observations
from medsentry.errors import ConfigError


class Status(StrEnum):
    PASS = "pass"
    PARTIAL = "partial"
    FAIL = "fail"
    NOT_ASSESSED = "not_assessed"
    NOT_APPLICABLE = "not_applicable"


STATUS_ORDER = (
    Status.FAIL,
    Status.PARTIAL,
    Status.NOT_ASSESSED,
    Status.PASS,
    Status.NOT_APPLICABLE,
)
MAX_ITEMS = 25  # evidence lines kept per evaluator; the count says how many there were


@dataclass
class Evidence:
    """One evaluator's answer."""

    evaluator: str
    status: Status
    summary: str
    items: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "evaluator": self.evaluator,
            "status": self.status.value,
            "summary": self.summary,
            "items": self.items[:MAX_ITEMS],
            "item_count": len(self.items),
            "metrics": self.metrics,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Evidence:
        return Evidence(
            evaluator=data["evaluator"],
            status=Status(data["status"]),
            summary=data.get("summary", ""),
            items=list(data.get("items", [])),
            metrics=dict(data.get("metrics", {})),
        )


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=BaseModel)


@dataclass
class Context:
    """What an evaluator may read: the store's observations, the clock, cached answers."""

    session: Session
    now: float = field(default_factory=time.time)
    observations: Observations = field(init=False)

    def __post_init__(self) -> None:
        self.observations = Observations(self.session)


EvaluatorFn = Callable[[Context, Any], Evidence]


@dataclass(frozen=True)
class _Registered:
    id: str
    params: type[BaseModel]
    fn: EvaluatorFn
    title: str


_REGISTRY: dict[str, _Registered] = {}


def evaluator(
    evaluator_id: str, params: type[P], title: str
) -> Callable[[Callable[[Context, P], Evidence]], Callable[[Context, P], Evidence]]:
    """Register an evaluator under ``evaluator_id`` with its parameter model."""

    def register(fn: Callable[[Context, P], Evidence]) -> Callable[[Context, P], Evidence]:
        if evaluator_id in _REGISTRY and _REGISTRY[evaluator_id].fn is not fn:
            raise ConfigError(f"evaluator {evaluator_id} registered twice")
        _REGISTRY[evaluator_id] = _Registered(evaluator_id, params, fn, title)
        return fn

    return register


def _load_families() -> None:
    import medsentry.compliance.evidence as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def registered() -> dict[str, str]:
    """Evaluator id -> one-line title."""
    _load_families()
    return {k: v.title for k, v in sorted(_REGISTRY.items())}


def check_params(evaluator_id: str, params: dict[str, Any], where: str) -> BaseModel:
    _load_families()
    try:
        return _REGISTRY[evaluator_id].params.model_validate(params)
    except ValidationError as exc:
        raise ConfigError(
            f"{where}: parameters of {evaluator_id}: {exc.errors()[0]['msg']}; fix the catalogue"
        ) from exc


def run_evaluator(
    ctx: Context, evaluator_id: str, params: dict[str, Any] | None = None
) -> Evidence:
    """Run one evaluator (memoised per context and parameters)."""
    _load_families()
    if evaluator_id not in _REGISTRY:
        raise ConfigError(f"unknown evaluator {evaluator_id!r}")
    cache: dict[str, Evidence] = ctx.observations._cache.setdefault("evidence", {})
    key = evaluator_id + json.dumps(params or {}, sort_keys=True, default=str)
    if key not in cache:
        entry = _REGISTRY[evaluator_id]
        parsed = check_params(evaluator_id, params or {}, where=evaluator_id)
        cache[key] = entry.fn(ctx, parsed)
    return cache[key]


# --------------------------------------------------------------------------- combining


@dataclass(frozen=True)
class AttestationView:
    """The latest effective attestation of a control (see attestations.py)."""

    id: int
    answer: str
    comment: str
    actor: str
    at: float
    document: str | None = None


def combine_automated(statuses: list[Status]) -> Status:
    assessed = [s for s in statuses if s is not Status.NOT_ASSESSED]
    if not assessed:
        return Status.NOT_ASSESSED
    if Status.FAIL in assessed:
        return Status.FAIL
    if all(s is Status.PASS for s in assessed):
        return Status.PASS
    if all(s is Status.NOT_APPLICABLE for s in assessed):
        return Status.NOT_APPLICABLE
    if all(s in (Status.PASS, Status.NOT_APPLICABLE) for s in assessed):
        return Status.PASS
    return Status.PARTIAL


def combine(
    automated: Status, attestation: AttestationView | None, *, asks_attestation: bool = False
) -> tuple[Status, str]:
    """The control's status and why, from its evidence and a person's attestation.

    ``asks_attestation``: the control also needs a person's word (the data covers only part
    of it), so good data alone makes it partial.
    """
    if attestation is None:
        if asks_attestation and automated is Status.PASS:
            return Status.PARTIAL, "from the data; the attestation is missing"
        return automated, "from the data"
    attested = Status(attestation.answer)
    if automated is Status.NOT_ASSESSED:
        return attested, "attested"
    if automated is Status.FAIL:
        # The data shows a problem: a person's word does not overrule it.
        note = " (the attestation says otherwise)" if attested is not Status.FAIL else ""
        return Status.FAIL, "from the data" + note
    if attested is Status.NOT_APPLICABLE:
        return Status.NOT_APPLICABLE, "attested not applicable"
    if attested is Status.FAIL:
        return Status.FAIL, "attested"
    if automated is Status.PASS and attested is Status.PASS:
        return Status.PASS, "from the data and attested"
    return Status.PARTIAL, "from the data and attested"


@dataclass
class ControlResult:
    catalogue: Catalogue
    control: Control
    status: Status
    basis: str
    evidence: list[Evidence]
    attestation: AttestationView | None

    @property
    def summary(self) -> str:
        lines = list(dict.fromkeys(e.summary for e in self.evidence if e.summary))
        if self.attestation is not None:
            lines.append(
                f"attested {self.attestation.answer} by {self.attestation.actor}: "
                f"{self.attestation.comment}"
            )
        elif self.control.attestation and self.status is Status.NOT_ASSESSED:
            lines.append(f"needs an attestation: {self.control.attestation}")
        return "; ".join(lines)

    def to_json(self) -> dict[str, Any]:
        att = self.attestation
        return {
            "catalogue": self.catalogue.id,
            "control": self.control.id,
            "title": self.control.title,
            "reference": self.control.reference,
            "regulatory_status": self.control.status,
            "tier": self.control.tier,
            "status": self.status.value,
            "basis": self.basis,
            "summary": self.summary,
            "evidence": [e.to_json() for e in self.evidence],
            "attestation": None
            if att is None
            else {
                "id": att.id,
                "answer": att.answer,
                "comment": att.comment,
                "actor": att.actor,
                "at": att.at,
                "document": att.document,
            },
        }


@dataclass
class Assessment:
    profile: str
    at: float
    results: list[ControlResult]
    id: int | None = None

    def counts(self) -> dict[str, int]:
        counted = Counter(r.status.value for r in self.results)
        return {s.value: counted.get(s.value, 0) for s in Status}

    def score(self) -> float:
        """Share of applicable controls met (partial counts half); 0..100."""
        applicable = [r for r in self.results if r.status is not Status.NOT_APPLICABLE]
        if not applicable:
            return 0.0
        points = sum(
            1.0 if r.status is Status.PASS else 0.5 if r.status is Status.PARTIAL else 0.0
            for r in applicable
        )
        return round(100.0 * points / len(applicable), 1)

    def by_catalogue(self) -> dict[str, list[ControlResult]]:
        out: dict[str, list[ControlResult]] = {}
        for r in self.results:
            out.setdefault(r.catalogue.id, []).append(r)
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "counts": self.counts(),
            "score": self.score(),
            "controls": len(self.results),
            "catalogues": {
                cid: {
                    "title": results[0].catalogue.title,
                    "counts": dict(Counter(r.status.value for r in results)),
                }
                for cid, results in self.by_catalogue().items()
            },
        }


def assess(
    session: Session,
    profile: str,
    *,
    now: float | None = None,
    attestations: dict[str, AttestationView] | None = None,
) -> Assessment:
    """Evaluate every control of ``profile`` against the store (nothing is written)."""
    from medsentry.compliance.attestations import effective_attestations

    catalogues = load_profile(profile)
    ctx = Context(session, now=now if now is not None else time.time())
    attested = (
        attestations if attestations is not None else effective_attestations(session, ctx.now)
    )
    results: list[ControlResult] = []
    for catalogue in catalogues:
        for control in catalogue.controls:
            evidence = [run_evaluator(ctx, ref.evaluator, ref.params) for ref in control.evidence]
            automated = combine_automated([e.status for e in evidence])
            attestation = attested.get(control.id)
            status, basis = combine(
                automated, attestation, asks_attestation=control.attestation is not None
            )
            results.append(ControlResult(catalogue, control, status, basis, evidence, attestation))
    return Assessment(profile, ctx.now, results)
