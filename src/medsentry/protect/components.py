"""Identifying components and versions inside binaries from signatures in a data file."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from packageurl import PackageURL
from pydantic import BaseModel, Field, field_validator

from medsentry.protect.datafiles import load_model
from medsentry.protect.formats import Buffer

ComponentType = Literal["library", "application", "operating-system", "firmware"]
Technique = Literal["binary-analysis", "manifest-analysis", "filename"]

_MAX_HITS_PER_PATTERN = 4
_CPE_SAFE = re.compile(r"[A-Za-z0-9._-]")


class PatternSpec(BaseModel):
    regex: str
    path: str | None = None
    confidence: float = Field(default=0.9, gt=0, le=1)

    @field_validator("regex", "path")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value.encode("latin-1"))
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class ComponentSpec(BaseModel):
    name: str
    vendor: str
    cpe: str  # "vendor:product", or "o:vendor:product" for an operating system
    type: ComponentType = "library"
    description: str = ""
    patterns: list[PatternSpec]
    sonames: list[str] = []


class SignatureFile(BaseModel):
    components: list[ComponentSpec]


@dataclass(frozen=True)
class Evidence:
    """Why we believe a component is present: where, what matched, and how sure we are."""

    component: str
    version: str | None
    location: str
    technique: Technique
    confidence: float
    text: str  # the matched text or manifest field, short and printable
    offset: int | None = None


@dataclass
class Component:
    """One identified component (name + version) with all evidence for it."""

    name: str
    version: str | None
    type: ComponentType
    supplier: str | None = None
    cpe: str | None = None
    purl: str | None = None
    description: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def confidence(self) -> float:
        """Combined confidence: independent pieces of evidence reinforce each other."""
        doubt = 1.0
        for item in self.evidence:
            doubt *= 1.0 - item.confidence
        return round(1.0 - doubt, 3)

    @property
    def locations(self) -> list[str]:
        return sorted({item.location for item in self.evidence})


@dataclass(frozen=True)
class _Compiled:
    spec: ComponentSpec
    regex: re.Pattern[bytes]
    path: re.Pattern[str] | None
    confidence: float
    versioned: bool


@cache
def default_signatures() -> SignatureFile:
    return load_model("signatures.yaml", SignatureFile)


def cpe_for(spec_cpe: str, version: str | None) -> str:
    """A CPE 2.3 formatted string; ``spec_cpe`` is "vendor:product" or "part:vendor:product"."""
    parts = spec_cpe.split(":")
    part, vendor, product = (parts if len(parts) == 3 else ["a", *parts])[:3]
    escaped = "".join(c if _CPE_SAFE.match(c) else "\\" + c for c in version) if version else "*"
    return f"cpe:2.3:{part}:{vendor}:{product}:{escaped}:*:*:*:*:*:*:*"


class ComponentMatcher:
    """Runs every signature over file contents and ELF sonames."""

    def __init__(self, signatures: SignatureFile | None = None) -> None:
        self.signatures = signatures or default_signatures()
        self.specs = {spec.name: spec for spec in self.signatures.components}
        self._patterns: list[_Compiled] = []
        self._sonames: list[tuple[ComponentSpec, re.Pattern[str]]] = []
        for spec in self.signatures.components:
            for pattern in spec.patterns:
                regex = re.compile(pattern.regex.encode("latin-1"))
                self._patterns.append(
                    _Compiled(
                        spec,
                        regex,
                        re.compile(pattern.path) if pattern.path else None,
                        pattern.confidence,
                        "version" in regex.groupindex,
                    )
                )
            self._sonames.extend((spec, re.compile(s)) for s in spec.sonames)

    def scan(self, data: Buffer, location: str, soname: str | None = None) -> list[Evidence]:
        """Evidence found in one file's bytes (``data`` may be an mmap).

        Callers skip documentation (changelogs name many old versions).
        """
        found: dict[tuple[str, str | None], Evidence] = {}
        for pattern in self._patterns:
            if pattern.path is not None and not pattern.path.search(location):
                continue
            for hits, match in enumerate(pattern.regex.finditer(data)):
                if hits >= _MAX_HITS_PER_PATTERN:
                    break
                version = match.group("version").decode("ascii") if pattern.versioned else None
                key = (pattern.spec.name, version)
                if key not in found or found[key].confidence < pattern.confidence:
                    found[key] = Evidence(
                        pattern.spec.name,
                        version,
                        location,
                        "binary-analysis",
                        pattern.confidence,
                        _printable(match.group(0)),
                        match.start(),
                    )
        if soname:
            for spec, regex in self._sonames:
                if regex.search(soname) and (spec.name, None) not in found:
                    found[(spec.name, None)] = Evidence(
                        spec.name, None, location, "binary-analysis", 0.5, f"DT_SONAME {soname}"
                    )
        versioned = {name for name, version in found if version is not None}
        # Presence-only hits add nothing when the same file also gave the version.
        return [e for (name, ver), e in found.items() if ver is not None or name not in versioned]

    def assemble(self, evidence: Iterable[Evidence]) -> list[Component]:
        """Group evidence into components; presence-only evidence joins the nearest version."""
        by_key: dict[tuple[str, str | None], list[Evidence]] = defaultdict(list)
        unversioned: list[Evidence] = []
        for item in evidence:
            (by_key[(item.component, item.version)] if item.version else unversioned).append(item)
        for item in unversioned:
            candidates = [key for key in by_key if key[0] == item.component and key[1]]
            if candidates:
                best = max(candidates, key=lambda key: _closeness(item.location, by_key[key]))
                by_key[best].append(item)
            else:
                by_key[(item.component, None)].append(item)
        _merge_truncated_versions(by_key)
        return [self._component(name, version, items) for (name, version), items in by_key.items()]

    def _component(self, name: str, version: str | None, items: list[Evidence]) -> Component:
        spec = self.specs[name]
        purl = PackageURL(type="generic", name=name, version=version).to_string()
        return Component(
            name=name,
            version=version,
            type=spec.type,
            supplier=spec.vendor,
            cpe=cpe_for(spec.cpe, version),
            purl=purl,
            description=spec.description,
            evidence=sorted(items, key=lambda e: (e.location, e.offset or 0)),
        )


def _merge_truncated_versions(by_key: dict[tuple[str, str | None], list[Evidence]]) -> None:
    """Fold "6.8" into "6.8p1" of the same component (but never "3.0.2" into "3.0.20")."""
    for name, version in sorted(by_key, key=lambda key: len(key[1] or "")):
        if version is None:
            continue
        longer = [
            other
            for other_name, other in by_key
            if other_name == name
            and other
            and len(other) > len(version)
            and other.startswith(version)
            and not other[len(version)].isdigit()
        ]
        if longer:
            by_key[(name, min(longer, key=len))].extend(by_key.pop((name, version)))


def _closeness(location: str, items: list[Evidence]) -> int:
    def shared(other: str) -> int:
        try:
            return len(os.path.commonpath([location, other]))
        except ValueError:
            return 0

    return max(shared(other.location) for other in items)


def _printable(raw: bytes, limit: int = 96) -> str:
    text = raw.decode("latin-1")
    text = "".join(c if 32 <= ord(c) < 127 else "." for c in text)
    return text[:limit]


def load_signatures(path: Path | None) -> SignatureFile:
    """The packaged signatures, or a user's file with the same layout."""
    return load_model("signatures.yaml", SignatureFile, path) if path else default_signatures()
