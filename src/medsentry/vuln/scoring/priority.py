"""Finding priority: CVSS, CISA KEV, EPSS and what MedSentry saw on the network.

The rules are a short ladder (thresholds in ``priority.yaml``, editable, validated):
the CVSS score sets a starting level, being known-exploited (KEV), a high EPSS, and network
exposure each raise it a step, and floors from KEV and the patient-safety rubric set a
minimum. The result carries a one-line reason a person can check.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from medsentry.errors import ConfigError

LevelName = Literal["low", "medium", "high", "critical"]
LEVELS: tuple[LevelName, ...] = ("low", "medium", "high", "critical")
P_CODES = {"critical": "P1", "high": "P2", "medium": "P3", "low": "P4"}


class PriorityPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    levels: tuple[LevelName, ...] = LEVELS
    cvss_thresholds: dict[Literal["critical", "high", "medium"], float]
    no_score_level: LevelName = "medium"
    epss_probability: float = 0.1
    epss_percentile: float = 0.95
    kev_floor: LevelName = "high"
    kev_and_exposed_level: LevelName = "critical"
    raise_when_exposed: bool = True
    raise_for_cleartext: bool = False

    @model_validator(mode="after")
    def _check(self) -> PriorityPolicy:
        if self.levels != LEVELS:
            raise ValueError(f"levels must be exactly {list(LEVELS)}")
        t = self.cvss_thresholds
        if set(t) != {"critical", "high", "medium"}:
            raise ValueError("cvss_thresholds needs critical, high and medium")
        if not 0 <= t["medium"] <= t["high"] <= t["critical"] <= 10:
            raise ValueError("cvss_thresholds must rise: medium <= high <= critical, within 0-10")
        if not (0 <= self.epss_probability <= 1 and 0 <= self.epss_percentile <= 1):
            raise ValueError("EPSS thresholds are probabilities between 0 and 1")
        return self


@dataclass(frozen=True, slots=True)
class Exposure:
    """Network facts about the device, from what MedSentry observed."""

    reachable_from_outside: bool = False
    cleartext_services: tuple[str, ...] = ()  # e.g. ("telnet", "http", "hl7-mllp")
    talks_to_internet: bool = False

    @property
    def exposed(self) -> bool:
        return self.reachable_from_outside or self.talks_to_internet


@dataclass(frozen=True, slots=True)
class Priority:
    level: str  # "P1".."P4"
    label: str  # critical / high / medium / low
    reason: str  # one line for a person
    factors: tuple[str, ...]  # the facts that moved it, in order


def load_policy(path: Path | None = None) -> PriorityPolicy:
    if path is None:
        return _default_policy()
    return _parse(path.read_text(encoding="utf-8"), str(path))


@cache
def _default_policy() -> PriorityPolicy:
    text = resources.files("medsentry.vuln.scoring").joinpath("priority.yaml").read_text("utf-8")
    return _parse(text, "priority.yaml")


def _parse(text: str, source: str) -> PriorityPolicy:
    try:
        return PriorityPolicy.model_validate(yaml.safe_load(text))
    except (ValidationError, yaml.YAMLError) as exc:
        raise ConfigError(f"{source} is not a valid priority policy; fix it: {exc}") from exc


def prioritise(
    *,
    cvss: float | None,
    kev: bool = False,
    kev_ransomware: bool = False,
    epss: float | None = None,
    epss_percentile: float | None = None,
    exposure: Exposure | None = None,
    safety_floor: str | None = None,
    policy: PriorityPolicy | None = None,
) -> Priority:
    """Combine the facts about one finding into a priority with a one-line reason."""
    pol = policy or _default_policy()
    exp = exposure or Exposure()
    factors: list[str] = []
    if cvss is None:
        rank = LEVELS.index(pol.no_score_level)
        factors.append("no CVSS score")
    else:
        t = pol.cvss_thresholds
        label = (
            "critical"
            if cvss >= t["critical"]
            else "high"
            if cvss >= t["high"]
            else "medium"
            if cvss >= t["medium"]
            else "low"
        )
        rank = LEVELS.index(label)
        factors.append(f"CVSS {cvss:.1f}")
    if kev:
        rank += 1
        factors.append(
            "known exploited (CISA KEV, used in ransomware campaigns)"
            if kev_ransomware
            else "known exploited (CISA KEV)"
        )
    high_epss = (epss is not None and epss >= pol.epss_probability) or (
        epss_percentile is not None and epss_percentile >= pol.epss_percentile
    )
    if epss is not None or epss_percentile is not None:
        shown = []
        if epss is not None:
            shown.append(f"{epss:.1%}")
        if epss_percentile is not None:
            shown.append(f"{epss_percentile * 100:.0f}th percentile")
        if high_epss:
            rank += 1
            factors.append("EPSS " + ", ".join(shown))
    if exp.exposed and pol.raise_when_exposed:
        rank += 1
        where = []
        if exp.reachable_from_outside:
            where.append("reachable from outside")
        if exp.talks_to_internet:
            where.append("talks to the internet")
        factors.append(" and ".join(where))
    if exp.cleartext_services:
        if pol.raise_for_cleartext:
            rank += 1
        factors.append("clear-text " + "/".join(exp.cleartext_services))
    rank = min(rank, len(LEVELS) - 1)
    floors: list[tuple[str, str]] = []
    if kev:
        floors.append((pol.kev_floor, "KEV floor"))
        if exp.exposed:
            floors.append((pol.kev_and_exposed_level, "exploited and exposed"))
    if safety_floor:
        if safety_floor not in LEVELS:
            raise ConfigError(f"patient-safety floor {safety_floor!r} is not one of {LEVELS}")
        floors.append((safety_floor, "patient-safety impact"))
    for floor, why in floors:
        if LEVELS.index(floor) > rank:
            rank = LEVELS.index(floor)
            factors.append(why)
    label_final = LEVELS[rank]
    code = P_CODES[label_final]
    reason = f"{code} {label_final}: " + "; ".join(factors)
    return Priority(code, label_final, reason, tuple(factors))
