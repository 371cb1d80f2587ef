"""Tolerant reading of the version text vendors write in advisories.

Medical-device advisories (CISA ICSMA CSAF product trees) carry no purl or CPE, only text
such as "06.08.00.00 and prior", "All versions", "< V14.2.0.3", ">= 2.0 | <= 3.0",
"versions 2.0 through 2.5", "v9.2.x", "prior to 4.0" or "before 3.2.1". This module turns
such text into a :class:`VendorRange` compared with the generic version order
(:mod:`medsentry.vuln.match.generic`), or says why it cannot.

Everything produced here is a guess about prose, so every result carries a confidence well
below that of purl or CPE matching, and notes on any words that were set aside.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from medsentry.vuln.match.generic import generic_key

# Confidence of a match found through a parsed vendor range (before name-matching doubts).
CONFIDENCE_EXACT = 0.6
CONFIDENCE_RANGE = 0.55
CONFIDENCE_WILDCARD = 0.5
CONFIDENCE_ALL = 0.45
PENALTY_NOTES = 0.1  # words were set aside (model numbers, operating systems, remarks)


@dataclass(frozen=True, slots=True)
class Interval:
    low: str | None
    low_inclusive: bool
    high: str | None
    high_inclusive: bool

    def contains(self, version: str) -> bool:
        key = generic_key(version)
        if self.low is not None:
            low = generic_key(self.low)
            if key < low or (key == low and not self.low_inclusive):
                return False
        if self.high is not None:
            high = generic_key(self.high)
            if key > high or (key == high and not self.high_inclusive):
                return False
        return True

    def describe(self) -> str:
        if self.low is None and self.high is None:
            return "all versions"
        if self.low is None:
            return f"{'<=' if self.high_inclusive else '<'} {self.high}"
        if self.high is None:
            return f"{'>=' if self.low_inclusive else '>'} {self.low}"
        lo = ">=" if self.low_inclusive else ">"
        hi = "<=" if self.high_inclusive else "<"
        return f"{lo} {self.low} and {hi} {self.high}"


@dataclass(frozen=True, slots=True)
class VendorRange:
    """Versions an advisory's text designates: all, listed versions and/or intervals."""

    all_versions: bool = False
    exact: tuple[str, ...] = ()
    intervals: tuple[Interval, ...] = ()

    def contains(self, version: str) -> bool:
        if self.all_versions:
            return True
        key = generic_key(version)
        if any(key == generic_key(v) for v in self.exact):
            return True
        return any(i.contains(version) for i in self.intervals)

    def describe(self) -> str:
        if self.all_versions:
            return "all versions"
        parts = [f"= {v}" for v in self.exact] + [i.describe() for i in self.intervals]
        return " or ".join(parts)

    def to_vers(self) -> str:
        """A ``vers:generic`` string; overlapping pieces are kept in order, not merged."""
        if self.all_versions:
            return "vers:generic/*"
        pieces: list[tuple[tuple[tuple[int, int, str], ...], str]] = []
        for v in self.exact:
            pieces.append((generic_key(v), _enc(v)))
        for i in self.intervals:
            if i.low is not None:
                pieces.append(
                    (generic_key(i.low), (">=" if i.low_inclusive else ">") + _enc(i.low))
                )
            if i.high is not None:
                op = "<=" if i.high_inclusive else "<"
                pieces.append((generic_key(i.high), op + _enc(i.high)))
        pieces.sort(key=lambda p: p[0])
        return "vers:generic/" + "|".join(p[1] for p in pieces)


def _enc(version: str) -> str:
    return "".join(f"%{ord(c):02X}" if c in "><=!*|% " else c for c in version)


@dataclass(frozen=True, slots=True)
class ParsedVersionText:
    """The outcome of reading one version text: a range, or the reason there is none."""

    text: str
    range: VendorRange | None
    confidence: float = 0.0
    reason: str | None = None  # why it is unparseable
    notes: tuple[str, ...] = field(default=())  # words set aside while parsing

    @property
    def ok(self) -> bool:
        return self.range is not None


class _Unparseable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DATE_RE = re.compile(
    rf"\b({_MONTHS})\b|\b\d{{1,2}}/\d{{1,2}}/\d{{2,4}}\b|\b(manufactured|distributed|shipped|"
    r"released)\b",
    re.IGNORECASE,
)
# A version: digits with separators and suffixes, optionally after v/V, or a short
# uppercase revision prefix (A.01, BT03, R4.1L1, SR540); a lone letter is a revision.
_VERSION = (
    r"(?:[vV]?\d[\w.+~-]*|[A-Z]{1,2}[.\-_]?\d[\w.+~-]*|[A-Z]{2,4}-\d+\.\d[\w.]*|"
    r"[A-Z]{1,3}(?:_[\w.]+)+|[A-Z])"
    r"(?:\s+(?:SP|SR|Service\s+Pack|Update|Build|MR\s+Build|UPD|Beta|R|D)\s*\d+[\w.]*)*"
)
_VERSION_RE = re.compile(rf"^{_VERSION}$")
_NUMERIC_VERSION = re.compile(r"^[vV]?\d+(?:\.\d+)+[a-z]?$")
_MODEL_RE = re.compile(r"^[A-Z]{2,}-\d+\b")
_WILDCARD_RE = re.compile(r"^[vV]?(\d+(?:\.\d+)*)((?:\.[xX*]{1,2})+)$")
_OP_RE = re.compile(rf"^(<=|>=|=<|=>|<|>|=)\s*({_VERSION})$")
_PRIOR_AFTER = re.compile(
    rf"^(?P<v>{_VERSION})\s*(?:versions?\s+)?(?:and|or|&)\s+"
    r"(?P<w>prior|earlier|below|lower|older|before|previous|later|above|newer|higher|greater|"
    r"after)(?:\s+versions?|\s+releases?)?$",
    re.IGNORECASE,
)
_BEFORE = re.compile(
    rf"^(?P<w>prior\s+to|before|earlier\s+than|lower\s+than|older\s+than|below|less\s+than|"
    rf"up\s+to(?:\s+and\s+including)?|through|until|from|since|starting\s+with|"
    rf"later\s+than|newer\s+than|after|greater\s+than|above)\s+(?:versions?\s+)?(?P<v>{_VERSION})$",
    re.IGNORECASE,
)
_BETWEEN = re.compile(
    rf"^(?:between\s+(?P<a1>{_VERSION})\s+and\s+(?P<b1>{_VERSION})|"
    rf"(?:from\s+)?(?P<a2>{_VERSION})\s*(?:\s(?:through|thru|to|until)\s|\s[-–]\s|–)\s*"
    rf"(?:versions?\s+)?(?P<b2>{_VERSION})(?:\s+inclusive)?|(?P<a3>[A-Z])-(?P<b3>[A-Z]))$",
    re.IGNORECASE,
)
_ALL_RE = re.compile(
    r"^(?:all(?:\s+(?:versions?|releases?|devices|models|firmware(?:\s+versions?)?))?|\*|"
    r"any(?:\s+versions?)?|vers:all/\*|every\s+version)$",
    re.IGNORECASE,
)
_LEADING_WORDS = re.compile(
    r"^(?:all\s+)?(?:running\s+)?(?:software\s+|firmware\s+|sw\s+|sp\s+)?"
    r"(?:versions?|revisions?|releases?|rev\.?)\s*:?\s+",
    re.IGNORECASE,
)
_PAREN = re.compile(r"\s*\(([^()]*)\)\s*")
_TRAILING_NOTE = re.compile(
    r"\s*,.*$|\s+(?:on|with|which|that|model|running|for|using|in|when|integrated)\b.*$",
    re.IGNORECASE,
)
_LETTER_VERSION = re.compile(r"^[A-Z]\.\d+(?:\.\d+)*$")

_LESS = {"prior", "earlier", "below", "lower", "older", "before", "previous"}
_UPPER_WORDS = {
    "prior to": False,
    "before": False,
    "earlier than": False,
    "lower than": False,
    "older than": False,
    "below": False,
    "less than": False,
    "up to": True,
    "up to and including": True,
    "through": True,
    "until": False,
}


def _norm_words(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def _single(piece: str) -> tuple[str, Interval | str]:
    """One constraint: ("interval", Interval) or ("exact", version)."""
    piece = piece.strip()
    m = _WILDCARD_RE.match(piece)
    if m:
        return "interval", _wildcard_interval(m[1])
    m = _OP_RE.match(piece)
    if m:
        op = {"=<": "<=", "=>": ">="}.get(m[1], m[1])
        value = m[2]
        w = _WILDCARD_RE.match(value)
        if w and op in ("<=", ">"):
            # "<= 12.2.x" means everything up to the end of the 12.2 series.
            upper = _wildcard_interval(w[1]).high
            return "interval", (
                Interval(None, False, upper, False)
                if op == "<="
                else Interval(upper, True, None, False)
            )
        if w:
            value = w[1]
        if op == "=":
            return "exact", value
        if op in ("<", "<="):
            return "interval", Interval(None, False, value, op == "<=")
        return "interval", Interval(value, op == ">=", None, False)
    if _VERSION_RE.match(piece):
        return "exact", piece
    raise _Unparseable(f"{piece!r} is not a version or a version constraint")


def _wildcard_interval(prefix: str) -> Interval:
    numbers = prefix.split(".")
    upper = [*numbers[:-1], str(int(numbers[-1]) + 1)]
    return Interval(prefix, True, ".".join(upper), False)


def _constraint_list(text: str) -> VendorRange:
    """Pieces separated by '|' (or ',' / ' or '), pairing '>= a' with a following '<= b'."""
    pieces = [p for p in re.split(r"\s*\|\s*|\s*,\s*|\s+(?:or|and)\s+", text) if p.strip()]
    expanded: list[str] = []
    for piece in pieces:
        words = piece.split()
        plain = all(_NUMERIC_VERSION.match(w) or _LETTER_VERSION.match(w) for w in words)
        # "1.3.2 1.4.0 1.4.1" or "B.02 C.02": a plain list of releases
        expanded.extend(words if len(words) > 1 and plain else [piece])
    pieces = expanded
    exact: list[str] = []
    intervals: list[Interval] = []
    pending_low: Interval | None = None
    for piece in pieces:
        kind, value = _single(piece)
        if kind == "exact":
            assert isinstance(value, str)
            exact.append(value)
            continue
        assert isinstance(value, Interval)
        if value.high is None and value.low is not None:
            if pending_low is not None:
                intervals.append(pending_low)
            pending_low = value
        elif value.low is None and pending_low is not None:
            intervals.append(
                Interval(
                    pending_low.low, pending_low.low_inclusive, value.high, value.high_inclusive
                )
            )
            pending_low = None
        else:
            intervals.append(value)
    if pending_low is not None:
        intervals.append(pending_low)
    return VendorRange(False, tuple(exact), tuple(intervals))


def _phrase(text: str) -> tuple[VendorRange, float] | None:
    """Recognise the sentence-like forms; ``None`` when the text is not one of them."""
    m = _PRIOR_AFTER.match(text)
    if m:
        version = m["v"]
        if m["w"].lower() in _LESS:
            return VendorRange(intervals=(Interval(None, False, version, True),)), CONFIDENCE_RANGE
        return VendorRange(intervals=(Interval(version, True, None, False),)), CONFIDENCE_RANGE
    m = _BEFORE.match(text)
    if m:
        word = _norm_words(m["w"])
        version = m["v"]
        if word in _UPPER_WORDS:
            interval = Interval(None, False, version, _UPPER_WORDS[word])
        else:
            inclusive = word in ("from", "since", "starting with")
            interval = Interval(version, inclusive, None, False)
        return VendorRange(intervals=(interval,)), CONFIDENCE_RANGE
    m = _BETWEEN.match(text)
    if m and "|" not in text:
        low = m["a1"] or m["a2"] or m["a3"]
        high = m["b1"] or m["b2"] or m["b3"]
        interval = Interval(low, True, high, True)
        return VendorRange(intervals=(interval,)), CONFIDENCE_RANGE
    return None


def _strip_vers_prefix(text: str) -> str:
    """ICSMA files write 'vers:all/<V13.2.0.13' although vers:all only allows '*'."""
    m = re.match(r"^vers:[a-z0-9.+-]+/(.+)$", text, re.IGNORECASE)
    return m[1] if m and m[1] != "*" else text


@lru_cache(maxsize=16384)
def parse_version_text(text: str) -> ParsedVersionText:
    """Read an advisory's version text; never raises (unparseable text gets a reason)."""
    original = text
    cleaned = re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip().strip("\"'")
    if not cleaned:
        return ParsedVersionText(original, None, reason="empty version text")
    if _ALL_RE.match(cleaned):
        return ParsedVersionText(original, VendorRange(all_versions=True), CONFIDENCE_ALL)
    if cleaned.startswith("* ") and not re.search(r"[<>=]", cleaned):
        # "* running on old operating systems": every version, with a remark
        return _result(original, VendorRange(all_versions=True), CONFIDENCE_ALL, [cleaned[2:]])
    notes: list[str] = []
    cleaned = _strip_vers_prefix(cleaned)
    for note in _PAREN.findall(cleaned):
        notes.append(note.strip())
    without_notes = _PAREN.sub(" ", cleaned).strip()
    if without_notes or not notes:
        cleaned = without_notes
    else:  # the whole text was one parenthesis: read what is inside
        cleaned, notes = notes[0], notes[1:]
    if _DATE_RE.search(cleaned) or (not any(c.isdigit() for c in cleaned) and _dated(notes)):
        return ParsedVersionText(original, None, reason=_DATE_REASON, notes=tuple(notes))
    cleaned = _LEADING_WORDS.sub("", cleaned).strip()
    if _MODEL_RE.match(cleaned):
        return ParsedVersionText(
            original, None, reason="a model or part number, not a version", notes=tuple(notes)
        )
    if _ALL_RE.match(cleaned):
        return _result(original, VendorRange(all_versions=True), CONFIDENCE_ALL, notes)
    m = re.match(r"^all\s+versions?\s*(<=?|>=?)\s*(.+)$", cleaned, re.IGNORECASE)
    if m:
        cleaned = f"{m[1]} {m[2]}"
    attempts = [cleaned]
    stripped = _TRAILING_NOTE.sub("", cleaned).strip()
    if stripped and stripped != cleaned:
        attempts.append(stripped)
    last_reason = "no version number in the text"
    for i, candidate in enumerate(attempts):
        extra = [cleaned[len(stripped) :].strip()] if i == 1 else []
        phrase = _phrase(candidate)
        if phrase is not None:
            return _result(original, phrase[0], phrase[1], notes + extra)
        try:
            rng = _constraint_list(candidate)
        except _Unparseable as exc:
            last_reason = exc.reason
            continue
        if not rng.exact and not rng.intervals:
            continue
        wildcard = any(_WILDCARD_RE.match(p.strip().lstrip("<>=")) for p in candidate.split("|"))
        base = (
            CONFIDENCE_WILDCARD
            if wildcard
            else (CONFIDENCE_EXACT if rng.exact and not rng.intervals else CONFIDENCE_RANGE)
        )
        return _result(original, rng, base, notes + extra)
    if not any(ch.isdigit() for ch in cleaned) and not re.match(r"^[<>=]+\s*[A-Z]$", cleaned):
        last_reason = "no version number in the text (a name, protocol or description)"
    return ParsedVersionText(original, None, reason=last_reason, notes=tuple(notes))


_DATE_REASON = "applicability is given by a date (manufacture/shipping/release), not by a version"


def _dated(notes: list[str]) -> bool:
    return any(_DATE_RE.search(n) for n in notes)


def _result(
    original: str, rng: VendorRange, confidence: float, notes: list[str]
) -> ParsedVersionText:
    kept = tuple(n for n in notes if n)
    if kept:
        confidence -= PENALTY_NOTES
    return ParsedVersionText(original, rng, round(confidence, 2), notes=kept)
