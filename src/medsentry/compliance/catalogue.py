"""Control catalogues: data files under ``catalogues/``, validated on load.

A catalogue is one framework (HIPAA technical safeguards, HPH CPGs, FDA premarket guidance...)
with a version and the source it paraphrases; each control says, in our own words, what is
asked, cites where, names the evaluators whose evidence satisfies it, and, when no data can
show it, the question a person must answer. A profile (``profiles.yaml``) lists the
catalogues that apply to one kind of user.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from medsentry.compliance.datafile import read_yaml, validated
from medsentry.errors import ConfigError

CATALOGUE_DIR = Path(__file__).with_name("catalogues")
PROFILES = ("hospital", "manufacturer")

Profile = Literal["hospital", "manufacturer"]

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class EvidenceRef(BaseModel):
    """One evaluator that can (partly) prove a control, with its parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    evaluator: str
    params: dict[str, Any] = Field(default_factory=dict)


class Control(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    text: str  # what is asked, in our own words
    reference: str  # citation of the source paragraph
    # final: in force; proposed: published for comment only; guidance: non-binding;
    # voluntary: a goal or practice guide; standard: a consensus standard.
    status: Literal["final", "proposed", "guidance", "voluntary", "standard"] = "final"
    tier: str | None = None  # required/addressable, essential/enhanced...
    evidence: tuple[EvidenceRef, ...] = ()
    attestation: str | None = None  # the question a person answers when data cannot
    documents: tuple[str, ...] = ()  # kinds of documents that support an attestation
    risks: tuple[str, ...] = ()  # risk ids (risks.yaml) this control mitigates
    caveat: str | None = None  # what we are not sure of about this item

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"control id {value!r}: use lower case, digits, '.', '_' or '-'")
        return value

    @property
    def automated(self) -> bool:
        return bool(self.evidence)


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    short_title: str = Field(max_length=40)
    version: str
    publisher: str
    source: str  # the document(s) paraphrased
    url: str | None = None
    profile: Profile
    caveats: tuple[str, ...] = ()
    controls: tuple[Control, ...] = Field(min_length=1)

    @field_validator("controls")
    @classmethod
    def _unique(cls, controls: tuple[Control, ...]) -> tuple[Control, ...]:
        seen: set[str] = set()
        for control in controls:
            if control.id in seen:
                raise ValueError(f"control id {control.id!r} appears twice")
            seen.add(control.id)
        return controls


class Risk(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    description: str
    harm: str  # the patient-safety or privacy consequence


class RiskRegister(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    risks: tuple[Risk, ...]


class ProfileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    audience: str
    catalogues: tuple[str, ...] = Field(min_length=1)


def load_catalogue(path: Path) -> Catalogue:
    catalogue: Catalogue = validated(Catalogue, read_yaml(path), path, "catalogue file")
    return catalogue


@cache
def load_risks(directory: Path = CATALOGUE_DIR) -> RiskRegister:
    path = directory / "risks.yaml"
    register: RiskRegister = validated(RiskRegister, read_yaml(path), path, "risk register")
    return register


@cache
def profile_specs(directory: Path = CATALOGUE_DIR) -> dict[str, ProfileSpec]:
    path = directory / "profiles.yaml"
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of profile name to its catalogues")
    specs = {
        name: validated(ProfileSpec, spec, path, "profiles file") for name, spec in data.items()
    }
    unknown = set(specs) - set(PROFILES)
    if unknown:
        raise ConfigError(f"{path}: unknown profile(s) {sorted(unknown)}; use {PROFILES}")
    return specs


@cache
def load_profile(profile: str, directory: Path = CATALOGUE_DIR) -> tuple[Catalogue, ...]:
    """The catalogues of a profile, checked against each other and the evaluator registry."""
    specs = profile_specs(directory)
    if profile not in specs:
        raise ConfigError(f"unknown profile {profile!r}: use one of {', '.join(PROFILES)}")
    catalogues = tuple(
        load_catalogue(directory / f"{name}.yaml") for name in specs[profile].catalogues
    )
    _check_profile(profile, catalogues, directory)
    return catalogues


def _check_profile(profile: str, catalogues: tuple[Catalogue, ...], directory: Path) -> None:
    from medsentry.compliance.evaluators import check_params, registered

    known = registered()
    risk_ids = {r.id for r in load_risks(directory).risks}
    seen: dict[str, str] = {}
    for catalogue in catalogues:
        if catalogue.profile != profile:
            raise ConfigError(
                f"catalogue {catalogue.id} is for the {catalogue.profile} profile, "
                f"not {profile}; fix profiles.yaml"
            )
        for control in catalogue.controls:
            if control.id in seen:
                raise ConfigError(
                    f"control {control.id} is in both {seen[control.id]} and {catalogue.id}"
                )
            seen[control.id] = catalogue.id
            if not control.evidence and not control.attestation:
                raise ConfigError(
                    f"{catalogue.id}: control {control.id} has neither evidence nor an "
                    "attestation question; give it one"
                )
            for ref in control.evidence:
                if ref.evaluator not in known:
                    raise ConfigError(
                        f"{catalogue.id}: control {control.id} names unknown evaluator "
                        f"{ref.evaluator!r}; known: {', '.join(sorted(known))}"
                    )
                check_params(ref.evaluator, ref.params, where=f"{catalogue.id}:{control.id}")
            for risk in control.risks:
                if risk not in risk_ids:
                    raise ConfigError(
                        f"{catalogue.id}: control {control.id} names unknown risk {risk!r}"
                    )


def find_control(control_id: str) -> tuple[str, Catalogue, Control]:
    """The profile, catalogue and control of an id, across every profile."""
    for profile in PROFILES:
        for catalogue in load_profile(profile):
            for control in catalogue.controls:
                if control.id == control_id:
                    return profile, catalogue, control
    raise ConfigError(
        f"unknown control {control_id!r}: list them with `medsentry compliance show --controls`"
    )
