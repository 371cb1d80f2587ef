"""``vers:`` version range specifiers: parsing, a strict validator, containment.

Version semantics come from univers (one version class per scheme, see
:func:`medsentry.vuln.match.purl.parse_version`); the ``generic`` scheme uses our own
ordering (:mod:`medsentry.vuln.match.generic`) because univers maps it to semver and
rewrites ``1.0`` as ``1.0.0``. The constraint syntax is split here rather than by
``univers.version_range.VersionRange.from_string`` because univers, measured with 32.0.1,
accepts several strings the vers specification requires tools to reject:

* ASCII whitespace anywhere (``>=1.0.0| <2.0.0``) - univers strips it;
* a leading or trailing ``|`` - univers drops the empty constraint;
* constraints out of version order (``>=2.0.0|<1.0.0``) - univers silently re-sorts them;
* the same version used twice - univers keeps both;
* malformed percent-escapes (``1.0%2G0``); and univers never decodes escapes at all, so
  ``1.0%252F0`` is read as a different version than the spec's ``1.0%2F0``.

Our strict check also rejects what univers happens to reject for other reasons (doubled
``|``; ``datetime`` values with lowercase ``t``/``z``, escaped colons or lowercase hex).

:func:`check_vers` reports all of these (``level="error"``) plus redundant comparator
sequences such as ``>1|>=2`` (``level="redundant"``: the spec's simplification rules; the
validate test vectors keep such ranges, so they do not make a range invalid here).
:func:`parse_vers` is lenient by default and strict with ``strict=True``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cmp_to_key, lru_cache
from itertools import pairwise
from typing import Any

from medsentry.errors import InputError
from medsentry.vuln.match.purl import parse_version

COMPARATORS = (">=", "<=", "!=", "<", ">")
_MUST_ENCODE = frozenset("><=!*|%")
_HEX = frozenset("0123456789ABCDEFabcdef")
_TYPE_RE = re.compile(r"[a-z][a-z0-9.-]*")
_WHITESPACE = re.compile(r"\s")


class VersError(InputError):
    """A vers string is malformed or not canonical (see ``problems``)."""

    def __init__(self, text: str, problems: list[VersProblem]) -> None:
        self.text = text
        self.problems = problems
        detail = "; ".join(p.message for p in problems)
        super().__init__(f"{text!r} is not a valid vers range: {detail}")


@dataclass(frozen=True, slots=True)
class VersProblem:
    code: str  # whitespace, empty, pipe, percent, order, duplicate, datetime, scheme, version
    message: str
    level: str = "error"  # "error" | "redundant"


@dataclass(frozen=True, slots=True)
class Constraint:
    comparator: str  # "=", "!=", "<", "<=", ">", ">=" or "*"
    version: str  # decoded; "" for "*"

    def to_string(self) -> str:
        if self.comparator == "*":
            return "*"
        prefix = "" if self.comparator == "=" else self.comparator
        return prefix + encode_version(self.version)


@dataclass(frozen=True, slots=True)
class VersRange:
    scheme: str
    constraints: tuple[Constraint, ...]

    @property
    def is_star(self) -> bool:
        return len(self.constraints) == 1 and self.constraints[0].comparator == "*"

    def to_string(self) -> str:
        return f"vers:{self.scheme}/" + "|".join(c.to_string() for c in self.constraints)

    def __str__(self) -> str:
        return self.to_string()

    def contains(self, version: str) -> bool:
        """True when ``version`` is inside the range (raises if it is invalid here)."""
        compiled = compile_range(self)
        if self.is_star:  # vers:<any>/* holds everything, vers:none/* nothing
            return compiled.star
        value = parse_version(compiled.scheme, version)
        if value is None:
            raise InputError(f"{version!r} is not a valid {self.scheme} version")
        return compiled.contains(value)


def encode_version(version: str) -> str:
    """Percent-encode exactly the characters vers requires to be encoded."""
    if not any(ch in _MUST_ENCODE for ch in version):
        return version
    return "".join(f"%{ord(ch):02X}" if ch in _MUST_ENCODE else ch for ch in version)


def _decode(version: str, problems: list[VersProblem] | None) -> str:
    """Decode percent-escapes once, reporting malformed or non-canonical ones."""
    if "%" not in version:
        return version
    out: list[str] = []
    i = 0
    while i < len(version):
        ch = version[i]
        triplet = version[i + 1 : i + 3]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        if len(triplet) < 2 or not all(h in _HEX for h in triplet):
            if problems is not None:
                problems.append(VersProblem("percent", f"invalid percent-escape in {version!r}"))
            out.append(ch)
            i += 1
            continue
        decoded = chr(int(triplet, 16))
        if problems is not None and (triplet != triplet.upper() or decoded not in _MUST_ENCODE):
            problems.append(
                VersProblem("percent", f"non-canonical percent-escape %{triplet} in {version!r}")
            )
        out.append(decoded)
        i += 3
    return "".join(out)


def _split_constraint(raw: str) -> tuple[str, str]:
    for comp in COMPARATORS:
        if raw.startswith(comp):
            return comp, raw[len(comp) :]
    return "=", raw


def _scan(text: str, problems: list[VersProblem] | None) -> VersRange:
    """Split a vers string; with ``problems`` given, record every syntax problem found."""

    def report(code: str, message: str) -> None:
        if problems is not None:
            problems.append(VersProblem(code, message))

    if _WHITESPACE.search(text):
        report("whitespace", "whitespace is not allowed")
        text = _WHITESPACE.sub("", text)
    scheme_part, sep, spec = text.partition(":")
    if not sep or scheme_part.lower() != "vers":
        raise VersError(text, [VersProblem("scheme", "must start with 'vers:'")])
    if scheme_part != "vers":
        report("scheme", "the URI scheme must be lowercase 'vers'")
    vtype, sep, body = spec.partition("/")
    if not sep or not vtype:
        raise VersError(text, [VersProblem("scheme", "missing '<type>/' after 'vers:'")])
    if vtype != vtype.lower():
        report("scheme", "the type must be lowercase")
    vtype = vtype.lower()
    if not _TYPE_RE.fullmatch(vtype):
        raise VersError(text, [VersProblem("scheme", f"invalid type {vtype!r}")])
    if not body:
        raise VersError(text, [VersProblem("empty", "no constraints after the type")])
    if body == "*":
        return VersRange(vtype, (Constraint("*", ""),))
    if body.startswith("|") or body.endswith("|"):
        report("pipe", "leading or trailing '|'")
    if "||" in body:
        report("pipe", "consecutive '|'")
    constraints: list[Constraint] = []
    for raw in body.split("|"):
        if not raw:
            continue
        comp, version = _split_constraint(raw)
        if not version:
            report("empty", f"constraint {raw!r} has no version")
            continue
        if version == "*" and comp == "=":
            report("star", "'*' must be the only constraint")
            continue
        constraints.append(Constraint(comp, _decode(version, problems)))
    if not constraints:
        raise VersError(text, [VersProblem("empty", "no constraints")])
    return VersRange(vtype, tuple(constraints))


def _check_datetime(rng: VersRange, raw_text: str, problems: list[VersProblem]) -> None:
    if rng.scheme != "datetime":
        return
    body = raw_text.partition("/")[2]
    for c in rng.constraints:
        if c.comparator == "*":
            continue
        if re.search(r"[a-z]", c.version):
            problems.append(
                VersProblem("datetime", f"{c.version!r}: use uppercase 'T' and 'Z' (RFC 3339)")
            )
    if "%3A" in body.upper():
        problems.append(VersProblem("datetime", "time colons must not be percent-encoded"))


def _sort_key(scheme: str) -> Any:
    def cmp(a: Constraint, b: Constraint) -> int:
        va, vb = parse_version(scheme, a.version), parse_version(scheme, b.version)
        if va is None or vb is None:
            return 0
        return -1 if va < vb else (1 if vb < va else 0)

    return cmp_to_key(cmp)


_VALID_NEXT = {
    "=": {"=", "!=", ">", ">="},
    "<": {"=", "!=", ">", ">="},
    "<=": {"=", "!=", ">", ">="},
    ">": {"!=", "<", "<="},
    ">=": {"!=", "<", "<="},
}


def _check_semantics(rng: VersRange, problems: list[VersProblem]) -> None:
    if rng.is_star:
        return
    if any(c.comparator == "*" for c in rng.constraints):
        problems.append(VersProblem("star", "'*' must be the only constraint"))
        return
    values = []
    for c in rng.constraints:
        value = parse_version(rng.scheme, c.version)
        if value is None:
            problems.append(VersProblem("version", f"{c.version!r} is not a {rng.scheme} version"))
            return
        values.append(value)
    for i in range(1, len(values)):
        if values[i] < values[i - 1]:
            problems.append(VersProblem("order", "constraints are not sorted by version"))
            break
    for i in range(len(values)):
        if any(values[i] == values[j] for j in range(i)):
            problems.append(
                VersProblem("duplicate", f"version {rng.constraints[i].version!r} repeats")
            )
    ordered = [c.comparator for c in rng.constraints if c.comparator != "!="]
    for cur, nxt in pairwise(ordered):
        if nxt not in _VALID_NEXT[cur]:
            problems.append(
                VersProblem("sequence", f"'{cur}' followed by '{nxt}' is redundant", "redundant")
            )


def check_vers(text: str) -> list[VersProblem]:
    """Every reason ``text`` is not a valid canonical vers string (empty list: valid)."""
    problems: list[VersProblem] = []
    try:
        rng = _scan(text, problems)
    except VersError as exc:
        return problems + exc.problems
    _check_datetime(rng, text, problems)
    _check_semantics(rng, problems)
    return problems


def parse_vers(text: str, strict: bool = False) -> VersRange:
    """Parse a vers string. Lenient: tolerate what can be understood; strict: reject errors."""
    if strict:
        errors = [p for p in check_vers(text) if p.level == "error"]
        if errors:
            raise VersError(text, errors)
    return _scan(text, None)


def canonical_vers(text: str) -> str:
    """Normalise a (lenient) vers string: lowercase type, constraints in version order."""
    rng = _scan(text, None)
    if rng.is_star:
        return rng.to_string()
    ordered = sorted(rng.constraints, key=_sort_key(rng.scheme))
    return VersRange(rng.scheme, tuple(ordered)).to_string()


def vers_from_native(scheme: str, native: str, dialect: str = "native") -> str:
    """A vers string from a native range (univers ``from_native``).

    ``dialect="gitlab"`` reads the range syntax of GitLab's advisory database instead of
    the ecosystem's own (``scheme`` stays the vers/purl type, e.g. ``composer``).
    """
    import univers.version_range as uvr

    try:
        if dialect == "gitlab":
            gitlab = {purl: gl for gl, purl in uvr.PURL_TYPE_BY_GITLAB_SCHEME.items()}
            if scheme not in gitlab:
                raise InputError(f"no GitLab range syntax known for scheme {scheme!r}")
            rng = uvr.from_gitlab_native(gitlab[scheme], native)
        else:
            range_class = uvr.RANGE_CLASS_BY_SCHEMES.get(scheme)
            if range_class is None:
                raise InputError(f"no native range syntax known for scheme {scheme!r}")
            rng = range_class.from_native(native)
    except InputError:
        raise
    except Exception as exc:  # univers raises assorted types for bad native input
        raise InputError(f"cannot read {scheme} range {native!r}: {exc}") from exc
    constraints = tuple(
        Constraint("*", "") if c.comparator == "*" else Constraint(c.comparator, str(c.version))
        for c in rng.constraints
    )
    return VersRange(scheme, constraints).to_string()


# --------------------------------------------------------------------------- containment


@dataclass(frozen=True, slots=True)
class CompiledRange:
    """A range reduced to comparable values: equal/unequal sets and intervals.

    Intervals are (low, low_inclusive, high, high_inclusive) with ``None`` for unbounded.
    Built once per range string and scheme; checking a version is then a few comparisons.
    """

    scheme: str
    star: bool
    equals: tuple[Any, ...]
    not_equals: tuple[Any, ...]
    intervals: tuple[tuple[Any, bool, Any, bool], ...]

    def contains(self, value: Any) -> bool:
        if self.star:
            return True
        for eq in self.equals:
            if value == eq:
                return True
        for ne in self.not_equals:
            if value == ne:
                return False
        # One comparison per bound: this runs for every candidate range of every component.
        for low, low_inc, high, high_inc in self.intervals:
            if low is not None:
                if low_inc:
                    if value < low:
                        continue
                elif not low < value:
                    continue
            if high is not None:
                if high_inc:
                    if high < value:
                        continue
                elif not value < high:
                    continue
            return True
        return False


def _compare_parsed(a: tuple[str, Any], b: tuple[str, Any]) -> int:
    return -1 if a[1] < b[1] else (1 if b[1] < a[1] else 0)


def compile_range(rng: VersRange) -> CompiledRange:
    """Turn a range into intervals following the vers containment procedure.

    Raises :class:`InputError` when a constraint version is invalid in the scheme.
    """
    if rng.is_star:
        # vers:none/* is the empty range; every other "*" range holds all versions.
        return CompiledRange(rng.scheme, rng.scheme != "none", (), (), ())
    return _compile_pairs(rng.scheme, [(c.comparator, c.version) for c in rng.constraints])


def _compile_pairs(scheme: str, pairs: list[tuple[str, str]]) -> CompiledRange:
    parsed: list[tuple[str, Any]] = []
    for op, text in pairs:
        if op == "*":
            raise InputError("'*' must be the only constraint of a vers range")
        value = parse_version(scheme, text)
        if value is None:
            raise InputError(f"{text!r} is not a valid {scheme} version")
        parsed.append((op, value))
    if any(parsed[i + 1][1] < parsed[i][1] for i in range(len(parsed) - 1)):
        parsed.sort(key=cmp_to_key(_compare_parsed))
    not_equals = tuple(v for op, v in parsed if op == "!=")
    bounds = [(op, v) for op, v in parsed if op not in ("=", "!=")]
    intervals: list[tuple[Any, bool, Any, bool]] = []
    in_interval: set[int] = set()
    last = len(bounds) - 1
    for i, (op, value) in enumerate(bounds):
        if op in ("<", "<=") and i == 0:
            intervals.append((None, False, value, op == "<="))
            in_interval.add(i)
        elif op in (">", ">="):
            if i == last:
                intervals.append((value, op == ">=", None, False))
                in_interval.add(i)
            elif bounds[i + 1][0] in ("<", "<="):
                nxt_op, nxt = bounds[i + 1]
                intervals.append((value, op == ">=", nxt, nxt_op == "<="))
                in_interval.update((i, i + 1))
    # '=' constraints, and inclusive bounds no interval covers, still contain their version.
    equals = tuple(v for op, v in parsed if op == "=") + tuple(
        v for i, (op, v) in enumerate(bounds) if op in ("<=", ">=") and i not in in_interval
    )
    return CompiledRange(scheme, False, equals, not_equals, tuple(intervals))


_PLAIN_VERS = re.compile(r"vers:([a-z][a-z0-9.-]*)/([^|%*\s][^%*\s]*)")


@lru_cache(maxsize=262144)
def compile_vers(text: str) -> CompiledRange:
    """Parse (leniently) and compile a vers string, cached by string."""
    plain = _PLAIN_VERS.fullmatch(text)
    if plain and "||" not in text and not text.endswith("|"):
        # Fast path for the common escape-free form; same result as the general parser.
        pairs = [_split_constraint(raw) for raw in plain[2].split("|")]
        if all(version for _, version in pairs):
            return _compile_pairs(plain[1], pairs)
    return compile_range(parse_vers(text))
