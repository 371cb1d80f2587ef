"""Package URLs: parsing, type-specific normalisation, canonical strings, version order.

Parsing is done by packageurl-python; on top of it we apply the registered type rules
(``purl_types.yaml``: case folding, required/prohibited namespace, name patterns, required
qualifiers) and write the canonical string ourselves, because the canonical form
percent-encodes ``/`` inside qualifier values, which packageurl-python leaves as is.

``strict=True`` follows the spec's "required" conformance tests: qualifier keys must already
be lowercase. The default is lenient (keys are lowercased), as SBOM producers emit mixed case.

Versions are compared with univers, choosing the scheme from the purl type; univers version
objects are costly to build, so they are cached per (scheme, version string).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Literal

import yaml
from packageurl import PackageURL
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from medsentry.errors import ConfigError, InputError
from medsentry.vuln.match.generic import generic_key


class PurlError(InputError):
    """A package URL is malformed or breaks its type's rules."""


class PurlTypeRule(BaseModel):
    """What one purl type adds to the generic syntax (see ``purl_types.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    namespace: Literal["required", "optional", "prohibited"] = "optional"
    lower_namespace: bool = False
    lower_name: bool = False
    lower_version: bool = False
    name_pattern: str | None = None
    version_pattern: str | None = None
    name_forbidden: tuple[str, ...] = ()
    name_replace: dict[str, str] = Field(default_factory=dict)
    required_qualifiers: tuple[str, ...] = ()
    version_scheme: str = "generic"


class PurlTypeTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    types: dict[str, PurlTypeRule]


_DEFAULT_RULE = PurlTypeRule()


@cache
def purl_type_rules() -> dict[str, PurlTypeRule]:
    """The type rules shipped with the package, validated on first use."""
    text = resources.files("medsentry.vuln.match").joinpath("purl_types.yaml").read_text()
    try:
        table = PurlTypeTable.model_validate(yaml.safe_load(text))
        for name, rule in table.types.items():
            for pattern in (rule.name_pattern, rule.version_pattern):
                if pattern is not None:
                    re.compile(pattern)
            if rule.version_scheme != "generic" and not _known_scheme(rule.version_scheme):
                raise ConfigError(f"purl_types.yaml: type {name}: unknown {rule.version_scheme}")
    except (ValidationError, re.error) as exc:
        raise ConfigError(f"purl_types.yaml is invalid; fix it and retry: {exc}") from exc
    return table.types


# Characters left unencoded in every purl component (RFC 3986 unreserved plus ':').
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_~:")
_TYPE_RE = re.compile(r"[a-z][a-z0-9.+-]*")
_QUALIFIER_KEY_RE = re.compile(r"[a-z][a-z0-9._-]*")
_SIMPLE_PURL = re.compile(
    r"pkg:([a-z][a-z0-9.+-]*)/((?:[A-Za-z0-9._~-]+/)*[A-Za-z0-9._~-]+)(?:@([A-Za-z0-9._~+:-]+))?"
)


def percent_encode(text: str) -> str:
    """Percent-encode ``text`` the way canonical purls do (UTF-8, uppercase hex)."""
    if all(ch in _SAFE for ch in text):
        return text
    out = []
    for ch in text:
        if ch in _SAFE:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Purl:
    """A normalised package URL. ``qualifiers`` are sorted (key, value) pairs."""

    type: str
    namespace: str | None
    name: str
    version: str | None = None
    qualifiers: tuple[tuple[str, str], ...] = ()
    subpath: str | None = None

    @property
    def package_key(self) -> tuple[str, str, str]:
        """(type, namespace, name): what identifies the package regardless of version."""
        return (self.type, self.namespace or "", self.name)

    @property
    def version_scheme(self) -> str:
        return version_scheme_for(self.type)

    def qualifier(self, key: str) -> str | None:
        for k, v in self.qualifiers:
            if k == key:
                return v
        return None

    def without_version(self) -> Purl:
        return Purl(self.type, self.namespace, self.name, None, self.qualifiers, self.subpath)

    def to_string(self) -> str:
        """The canonical purl string."""
        parts = ["pkg:", self.type, "/"]
        if self.namespace:
            parts.append("/".join(percent_encode(seg) for seg in self.namespace.split("/")))
            parts.append("/")
        parts.append(percent_encode(self.name))
        if self.version:
            parts.append("@" + percent_encode(self.version))
        if self.qualifiers:
            parts.append("?" + "&".join(f"{k}={percent_encode(v)}" for k, v in self.qualifiers))
        if self.subpath:
            parts.append("#" + "/".join(percent_encode(s) for s in self.subpath.split("/")))
        return "".join(parts)

    def __str__(self) -> str:
        return self.to_string()


def _known_scheme(scheme: str) -> bool:
    from univers.version_range import RANGE_CLASS_BY_SCHEMES

    return scheme in RANGE_CLASS_BY_SCHEMES


def _clean_segments(value: str | None) -> list[str]:
    if not value:
        return []
    return [s for s in value.split("/") if s]


def build_purl(
    type: str | None,
    namespace: str | None,
    name: str | None,
    version: str | None = None,
    qualifiers: Mapping[str, str | None] | None = None,
    subpath: str | None = None,
) -> Purl:
    """A normalised :class:`Purl` from decoded components; raises :class:`PurlError`."""
    if not type:
        raise PurlError("purl has no type; add one, e.g. pkg:npm/name")
    ptype = type.lower()
    if not _TYPE_RE.fullmatch(ptype):
        raise PurlError(f"purl type {type!r} is invalid: use letters, digits, '.', '+', '-'")
    rule = purl_type_rules().get(ptype, _DEFAULT_RULE)
    ns_segments = _clean_segments(namespace)
    if rule.namespace == "required" and not ns_segments:
        raise PurlError(f"purl type {ptype} requires a namespace")
    if rule.namespace == "prohibited" and ns_segments:
        raise PurlError(f"purl type {ptype} does not allow a namespace")
    ns = "/".join(ns_segments) or None
    if ns and rule.lower_namespace:
        ns = ns.lower()
    pname = (name or "").strip("/")
    if not pname:
        raise PurlError("purl has no name")
    for old, new in rule.name_replace.items():
        pname = pname.replace(old, new)
    if rule.lower_name:
        pname = pname.lower()
    for bad in rule.name_forbidden:
        if bad in pname:
            raise PurlError(f"purl type {ptype}: name may not contain {bad!r}")
    if rule.name_pattern and not re.fullmatch(rule.name_pattern, pname):
        raise PurlError(f"purl type {ptype}: name {pname!r} is not of the registered form")
    pversion = version or None
    if pversion and rule.lower_version:
        pversion = pversion.lower()
    if pversion and rule.version_pattern and not re.fullmatch(rule.version_pattern, pversion):
        raise PurlError(f"purl type {ptype}: version {pversion!r} is not of the registered form")
    quals: dict[str, str] = {}
    for key, value in (qualifiers or {}).items():
        if not value:
            continue
        lkey = key.lower()
        if not _QUALIFIER_KEY_RE.fullmatch(lkey):
            raise PurlError(f"purl qualifier key {key!r} is invalid")
        quals[lkey] = value
    for key in rule.required_qualifiers:
        if key not in quals:
            raise PurlError(f"purl type {ptype} requires the qualifier {key!r}")
    segments = [s for s in (subpath or "").split("/") if s not in ("", ".", "..")]
    return Purl(
        type=ptype,
        namespace=ns,
        name=pname,
        version=pversion,
        qualifiers=tuple(sorted(quals.items())),
        subpath="/".join(segments) or None,
    )


def _raw_qualifier_keys(text: str) -> list[str]:
    head = text.split("#", 1)[0]
    if "?" not in head:
        return []
    return [pair.split("=", 1)[0] for pair in head.split("?", 1)[1].split("&") if pair]


def _raw_path(text: str) -> str:
    """The type/namespace/name part of a raw purl string (before version/qualifiers)."""
    head = text.split("#", 1)[0].split("?", 1)[0]
    return head.rsplit("@", 1)[0] if "@" in head.split(":", 1)[-1] else head


@lru_cache(maxsize=65536)
def parse_purl(text: str, strict: bool = False) -> Purl:
    """Parse and normalise a purl string; raises :class:`PurlError` with the reason."""
    if not text or not text.strip():
        raise PurlError("empty purl")
    if strict:
        bad = [k for k in _raw_qualifier_keys(text) if k != k.lower()]
        if bad:
            raise PurlError(f"purl qualifier keys must be lowercase: {', '.join(bad)}")
        if _raw_path(text).endswith("/"):
            raise PurlError(f"{text!r}: the name segment is empty")
    simple = _SIMPLE_PURL.fullmatch(text)
    if simple:
        # Plain "pkg:type/ns/name@version" needs no decoding: skip the general parser,
        # which dominates the cost of indexing hundreds of thousands of advisory purls.
        ptype, path, version = simple.groups()
        namespace, _, name = path.rpartition("/")
        return build_purl(ptype, namespace or None, name, version)
    try:
        raw: Any = PackageURL.from_string(text.strip())
    except ValueError as exc:
        raise PurlError(f"{text!r} is not a valid purl: {exc}") from exc
    quals = raw.qualifiers if isinstance(raw.qualifiers, dict) else {}
    return build_purl(raw.type, raw.namespace, raw.name, raw.version, quals, raw.subpath)


def canonical_purl(text: str, strict: bool = False) -> str:
    """The canonical string of a purl (lowercasing, ordering, encoding)."""
    return parse_purl(text, strict).to_string()


def try_parse_purl(text: str | None) -> Purl | None:
    """Like :func:`parse_purl` but returns ``None`` for missing or malformed input."""
    if not text:
        return None
    try:
        return parse_purl(text)
    except PurlError:
        return None


# --------------------------------------------------------------------------- versions


def version_scheme_for(purl_type: str) -> str:
    """The vers scheme whose ordering applies to versions of ``purl_type`` packages."""
    return purl_type_rules().get(purl_type, _DEFAULT_RULE).version_scheme


# vers type names that univers registers under another name.
SCHEME_ALIASES = {"gentoo": "ebuild", "alpine": "apk", "arch": "alpm", "go": "golang"}


@lru_cache(maxsize=262144)
def parse_version(scheme: str, text: str) -> Any:
    """A comparable version object for ``text`` under ``scheme``, or ``None`` if invalid.

    ``generic`` uses :func:`medsentry.vuln.match.generic.generic_key`; every other scheme
    uses the univers version class of that scheme.
    """
    if scheme == "generic":
        return generic_key(text)
    from univers.version_range import RANGE_CLASS_BY_SCHEMES

    range_class: Any = RANGE_CLASS_BY_SCHEMES.get(SCHEME_ALIASES.get(scheme, scheme))
    if range_class is None:
        return generic_key(text)
    try:
        version = range_class.version_class(text)
    except Exception:  # univers raises many kinds (ValueError, InvalidVersion, TypeError)
        return None
    if _orders_by_value(range_class.version_class):
        # The univers wrapper only delegates to ``value``; comparing the values directly
        # gives the same order several times faster.
        return version.value
    return version


@cache
def _orders_by_value(cls: Any) -> bool:
    from univers.versions import Version

    return all(getattr(cls, op) is getattr(Version, op) for op in ("__lt__", "__eq__", "__gt__"))


def compare_versions(scheme: str, a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` sorts before, equal to or after ``b`` in ``scheme``.

    Raises :class:`InputError` when either version is not valid in the scheme.
    """
    va, vb = parse_version(scheme, a), parse_version(scheme, b)
    if va is None or vb is None:
        bad = a if va is None else b
        raise InputError(f"{bad!r} is not a valid {scheme} version")
    if va == vb:
        return 0
    return -1 if va < vb else 1
