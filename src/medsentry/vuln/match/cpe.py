"""CPE names: parsing (2.3 formatted strings and 2.2 URIs) and matching with version ranges.

Attribute matching follows the CPE Name Matching rules in the simple form scanners use:
an affected-side ``*`` (ANY) matches anything, ``-`` (NA) matches only NA or an unknown
component value, other values compare case-insensitively and may hold the ``*``/``?``
wildcards. The version is checked separately: either against the affected CPE's own version
or, when that is ANY, against an NVD-style range (versionStartIncluding/Excluding,
versionEndIncluding/Excluding) carried as a ``vers:generic`` string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

from medsentry.errors import InputError
from medsentry.vuln.match.generic import generic_key
from medsentry.vuln.match.purl import parse_version
from medsentry.vuln.match.vers import Constraint, VersRange, compile_vers

ANY = "*"
NA = "-"
_ATTRS = (
    "part",
    "vendor",
    "product",
    "version",
    "update",
    "edition",
    "language",
    "sw_edition",
    "target_sw",
    "target_hw",
    "other",
)
_ATTRS_NO_VERSION = tuple(a for a in _ATTRS if a != "version")
_SPLIT_23 = re.compile(r"(?<!\\):")


class CpeError(InputError):
    """A CPE string cannot be read."""


@dataclass(frozen=True, slots=True)
class Cpe:
    """A CPE name with unescaped, lowercased attribute values (``*`` ANY, ``-`` NA)."""

    part: str
    vendor: str
    product: str
    version: str = ANY
    update: str = ANY
    edition: str = ANY
    language: str = ANY
    sw_edition: str = ANY
    target_sw: str = ANY
    target_hw: str = ANY
    other: str = ANY

    @property
    def key(self) -> tuple[str, str]:
        """(vendor, product): the index key of affected CPEs."""
        return (self.vendor, self.product)

    @property
    def has_version(self) -> bool:
        return self.version not in (ANY, NA)

    def to_string(self) -> str:
        """The CPE 2.3 formatted string."""
        return "cpe:2.3:" + ":".join(_escape(getattr(self, a)) for a in _ATTRS)

    def __str__(self) -> str:
        return self.to_string()


def _escape(value: str) -> str:
    if value in (ANY, NA):
        return value
    return re.sub(r"([^A-Za-z0-9_*?])", r"\\\1", value)


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


@lru_cache(maxsize=65536)
def parse_cpe(text: str) -> Cpe:
    """Parse a CPE 2.3 formatted string or a CPE 2.2 URI; raises :class:`CpeError`."""
    raw = text.strip()
    low = raw.lower()
    if low.startswith("cpe:2.3:"):
        parts = _SPLIT_23.split(raw[8:])
        if len(parts) != 11:
            raise CpeError(f"{text!r}: a CPE 2.3 name has 11 attributes, found {len(parts)}")
        values = [p if p in (ANY, NA) else _unescape(p).lower() for p in parts]
    elif low.startswith("cpe:/"):
        parts = raw[5:].split(":")
        if len(parts) > 7:
            raise CpeError(f"{text!r}: a CPE 2.2 URI has at most 7 components")
        values = [unquote(p).lower() if p else ANY for p in parts]
        values += [ANY] * (11 - len(values))
    else:
        raise CpeError(f"{text!r} is not a CPE: expected 'cpe:2.3:' or 'cpe:/'")
    if values[0] not in ("a", "o", "h", ANY):
        raise CpeError(f"{text!r}: part must be a, o or h")
    if values[1] in (ANY, NA, "") or values[2] in (ANY, NA, ""):
        raise CpeError(f"{text!r}: vendor and product are required for matching")
    return Cpe(*values)


def try_parse_cpe(text: str | None) -> Cpe | None:
    if not text:
        return None
    try:
        return parse_cpe(text)
    except CpeError:
        return None


@lru_cache(maxsize=4096)
def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."))


def attribute_matches(affected: str, component: str) -> bool:
    """Does one affected-side attribute value accept the component's value?"""
    if affected == ANY or component == ANY:
        return True  # the component's ANY means "unknown", which cannot rule a match out
    if affected == NA or component == NA:
        return affected == component
    if "*" in affected or "?" in affected:
        return _wildcard(affected).fullmatch(component) is not None
    return affected == component


def attributes_match(affected: Cpe, component: Cpe, with_version: bool = False) -> bool:
    """All attributes but the version (unless ``with_version``) are compatible."""
    for name in _ATTRS if with_version else _ATTRS_NO_VERSION:
        if not attribute_matches(getattr(affected, name), getattr(component, name)):
            return False
    return True


@dataclass(frozen=True, slots=True)
class NvdRange:
    """An NVD configuration's version bounds for a CPE with version ``*``."""

    start_including: str | None = None
    start_excluding: str | None = None
    end_including: str | None = None
    end_excluding: str | None = None

    def to_vers(self) -> str | None:
        """The same bounds as a ``vers:generic`` string, or ``None`` when unbounded."""
        parts: list[Constraint] = []
        if self.start_including:
            parts.append(Constraint(">=", self.start_including))
        elif self.start_excluding:
            parts.append(Constraint(">", self.start_excluding))
        if self.end_including:
            parts.append(Constraint("<=", self.end_including))
        elif self.end_excluding:
            parts.append(Constraint("<", self.end_excluding))
        if not parts:
            return None
        return VersRange("generic", tuple(parts)).to_string()

    def contains(self, version: str) -> bool:
        vers = self.to_vers()
        if vers is None:
            return True
        return compile_vers(vers).contains(generic_key(version))


@dataclass(frozen=True, slots=True)
class CpeVersionCheck:
    matched: bool
    compared: str | None  # the component version that was compared
    against: str  # what it was compared with: a version, a range, or "any version"


def check_cpe_version(
    affected: Cpe, vers: str | None, component: Cpe, component_version: str | None
) -> CpeVersionCheck:
    """Compare the component's version with the affected CPE's version or range."""
    version = component.version if component.has_version else component_version
    if affected.version == NA:
        return CpeVersionCheck(component.version in (NA, ANY), component.version, "no version")
    if affected.has_version:
        if version is None:
            return CpeVersionCheck(False, None, affected.version)
        if "*" in affected.version or "?" in affected.version:
            ok = _wildcard(affected.version).fullmatch(version.lower()) is not None
        else:
            ok = generic_key(version) == generic_key(affected.version)
        return CpeVersionCheck(ok, version, affected.version)
    if not vers:
        return CpeVersionCheck(True, version, "any version")
    if version is None:
        return CpeVersionCheck(False, None, vers)
    compiled = compile_vers(vers)
    value = parse_version(compiled.scheme, version)
    return CpeVersionCheck(value is not None and compiled.contains(value), version, vers)
