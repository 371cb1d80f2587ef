"""PHI safety: what counts as patient data, and helpers that keep it out of every output.

Analyzers decide *whether* a message carries patient data from the catalogue in
``phi.yaml``; they never copy the values. The helpers here clean the few strings that do
leave a parser (identifiers, paths) and let tests prove that nothing else escaped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from medsentry.errors import ConfigError

CATALOGUE_PATH = Path(__file__).with_name("phi.yaml")

# Longest identifier (AE title, application name, device id, host) an event may carry.
MAX_IDENTIFIER = 128
MAX_PATH = 256
MAX_PARAM_NAMES = 32


class PhiCatalogue(BaseModel):
    """Lists of patient-bearing elements per protocol (see ``phi.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hl7_segments: frozenset[str]
    hl7_value_fields: dict[str, int] = Field(default_factory=dict)
    dicom_groups: frozenset[int]
    dicom_tags: frozenset[int] = frozenset()
    fhir_patient_resources: frozenset[str]
    fhir_other_resources: frozenset[str] = frozenset()

    @field_validator("hl7_segments", mode="after")
    @classmethod
    def _segment_ids(cls, value: frozenset[str]) -> frozenset[str]:
        bad = [s for s in value if not re.fullmatch(r"[A-Z][A-Z0-9]{2}", s)]
        if bad:
            raise ValueError(f"HL7 segment ids are three upper-case characters, got {bad}")
        return value

    @field_validator("dicom_groups", "dicom_tags", mode="before")
    @classmethod
    def _hex(cls, value: object) -> object:
        if isinstance(value, list):
            return [int(v, 16) if isinstance(v, str) else v for v in value]
        return value

    @property
    def fhir_resources(self) -> frozenset[str]:
        return self.fhir_patient_resources | self.fhir_other_resources

    def dicom_tag_is_phi(self, tag: int) -> bool:
        return (tag >> 16) in self.dicom_groups or tag in self.dicom_tags


@lru_cache(maxsize=1)
def catalogue() -> PhiCatalogue:
    """The PHI catalogue shipped with the package, validated once."""
    return load_catalogue(CATALOGUE_PATH)


def load_catalogue(path: Path) -> PhiCatalogue:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the PHI catalogue {path}: {exc}") from exc
    try:
        return PhiCatalogue.model_validate(raw)
    except (ValidationError, ValueError) as exc:
        first = str(exc).splitlines()
        raise ConfigError(f"{path} is invalid, fix it and retry: {' '.join(first[:3])}") from exc


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def safe_identifier(value: str, max_len: int = MAX_IDENTIFIER) -> str:
    """An identifier fit for output: control characters removed, trimmed, bounded."""
    text = _CONTROL.sub("", value).strip()
    return text[:max_len]


def redact(value: str) -> str:
    """Replace free text that may hold patient data by a marker that keeps only its size."""
    return f"[redacted {len(value)} chars]"


def split_target(target: str) -> tuple[str, list[str]]:
    """Split a request target into its path and the NAMES of its query parameters.

    Query values (``?name=Smith``) and fragments never survive; neither does a scheme +
    authority prefix's userinfo (``http://user:pw@host/...``).
    """
    path, _, query = target.partition("#")[0].partition("?")
    if "://" in path:
        # Absolute form (proxies): keep the path only, the host travels in ``host``.
        rest = path.split("://", 1)[1]
        slash = rest.find("/")
        path = rest[slash:] if slash >= 0 else "/"
    names: list[str] = []
    for part in query.split("&"):
        if not part:
            continue
        name = safe_identifier(unquote(part.partition("=")[0]), 64)
        if name and name not in names:
            names.append(name)
        if len(names) >= MAX_PARAM_NAMES:
            break
    return safe_identifier(path, MAX_PATH), names


def _normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", " ", folded)


def find_leaks(haystack: str | bytes, needles: Iterable[str], min_len: int = 3) -> list[str]:
    """The needles (known fake patient strings) that occur in ``haystack``.

    Case- and whitespace-insensitive; needles shorter than ``min_len`` are ignored because
    they would match by chance. Meant for tests that scan databases, logs and outputs.
    """
    if isinstance(haystack, bytes):
        haystack = haystack.decode("utf-8", errors="replace")
    text = _normalise(haystack)
    found = []
    for needle in needles:
        norm = _normalise(needle).strip()
        if len(norm) >= min_len and norm in text:
            found.append(needle)
    return found
