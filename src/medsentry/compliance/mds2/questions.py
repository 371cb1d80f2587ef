"""MDS2 question ids: the two editions' layouts, id normalisation, answer parsing.

Real forms misspell ids: ``SHAD-15`` for ``SAHD-15`` (on NEMA's own example), en dashes,
spaces, trailing dots, ``TXCF 02``, ``18 - 2``, ``D5``. :func:`normalise_id` maps each to the
canonical id of its edition and says what it changed, so the import can report it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from medsentry.compliance.datafile import load
from medsentry.errors import ConfigError

FORMS_FILE = Path(__file__).with_name("forms.yaml")
HN2019 = "HN 1-2019"
HN2013 = "HN 1-2013"

_DASHES = str.maketrans({c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"})
_CODE_NUM = re.compile(r"^([A-Z]{3,5})-?(\d+(?:\.\d+)*)$")
_SECTION_ITEM = re.compile(r"^(?:([A-Z]{4})-?)?(\d{1,2})-(\d+(?:\.\d+)*)$")
_LETTER = re.compile(r"^([A-F])(?:[.-]?(\d))?$")


class Fact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hn2019: str | None = None
    hn2013: str | None = None
    topic: str

    def question(self, version: str) -> str | None:
        return self.hn2019 if version == HN2019 else self.hn2013


class Edition2019(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    sections: dict[str, tuple[str, tuple[str, ...]]]
    aliases: dict[str, str]


class Edition2013(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    sections: dict[str, tuple[str, str, tuple[str, ...]]]
    private_data: tuple[str, ...]
    header_labels: dict[str, tuple[str, ...]]


class FormsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    hn2019: Edition2019
    hn2013: Edition2013
    facts: dict[str, Fact]


@cache
def forms_spec(path: Path = FORMS_FILE) -> FormsSpec:
    spec = load(FormsSpec, path, "MDS2 layout file")
    for fact_id, fact in spec.facts.items():
        for version, qid in ((HN2019, fact.hn2019), (HN2013, fact.hn2013)):
            if qid is not None and qid not in known_ids(version, spec):
                raise ConfigError(f"{path}: fact {fact_id} names unknown {version} id {qid}")
    return spec


def known_ids(version: str, spec: FormsSpec | None = None) -> frozenset[str]:
    spec = spec or forms_spec()
    if version == HN2019:
        return frozenset(
            f"{code}-{n}" for code, (_, items) in spec.hn2019.sections.items() for n in items
        )
    ids = {f"{num}-{n}" for num, (_, _, items) in spec.hn2013.sections.items() for n in items}
    return frozenset(ids | set(spec.hn2013.private_data))


def section_title(version: str, question_id: str) -> str:
    spec = forms_spec()
    if version == HN2019:
        code = question_id.split("-", 1)[0]
        entry = spec.hn2019.sections.get(code)
        return entry[0] if entry else code
    if "-" in question_id:
        entry13 = spec.hn2013.sections.get(question_id.split("-", 1)[0])
        return f"{entry13[0]}: {entry13[1]}" if entry13 else question_id
    return "Management of private data"


@dataclass(frozen=True)
class NormalisedId:
    canonical: str
    version: str
    change: str | None = None  # what was rewritten, for the import report
    known: bool = True  # printed on the edition's form


def _strip_zeros(number: str) -> str:
    return ".".join(str(int(part)) for part in number.split("."))


def _close_code(code: str, codes: list[str], aliases: dict[str, str]) -> str | None:
    """A misspelt section code: a known alias, else the one known code it is an anagram
    of or one letter away from."""
    if code in aliases:
        return aliases[code]
    anagrams = [c for c in codes if sorted(c) == sorted(code)]
    if len(anagrams) == 1:
        return anagrams[0]
    near = [
        c
        for c in codes
        if len(c) == len(code) and sum(a != b for a, b in zip(c, code, strict=True)) == 1
    ]
    return near[0] if len(near) == 1 else None


def normalise_id(raw: object) -> NormalisedId | None:
    """The canonical id of a form cell, or None when the cell is not a question id."""
    if raw is None:
        return None
    text = str(raw).translate(_DASHES).upper().strip().rstrip(".:;")
    compact = re.sub(r"\s*-\s*", "-", text)
    compact = re.sub(r"\s*\.\s*", ".", compact)
    compact = re.sub(r"\s+", "-", compact)
    if not compact or len(compact) > 20:
        return None
    spec = forms_spec()
    m = _SECTION_ITEM.match(compact)
    if m:
        code, section, item = m.group(1), str(int(m.group(2))), _strip_zeros(m.group(3))
        entry = spec.hn2013.sections.get(section)
        if entry is None:
            return None
        canonical = f"{section}-{item}"
        change = None if canonical == str(raw).strip() else f"{raw!s} -> {canonical}"
        if code and code != entry[0]:
            change = f"{raw!s} -> {canonical} (section code {code} does not match {entry[0]})"
        return NormalisedId(canonical, HN2013, change, canonical in known_ids(HN2013))
    m = _CODE_NUM.match(compact)
    if m:
        code, number = m.group(1), _strip_zeros(m.group(2))
        codes = list(spec.hn2019.sections)
        fixed = (
            code if code in spec.hn2019.sections else _close_code(code, codes, spec.hn2019.aliases)
        )
        if fixed is None:
            return None
        canonical = f"{fixed}-{number}"
        change = None if canonical == str(raw).strip() else f"{raw!s} -> {canonical}"
        return NormalisedId(canonical, HN2019, change, canonical in known_ids(HN2019))
    m = _LETTER.match(compact)
    if m and (len(compact) > 1 or str(raw).strip().isupper()):
        canonical = m.group(1) + (f".{m.group(2)}" if m.group(2) else "")
        change = None if canonical == str(raw).strip() else f"{raw!s} -> {canonical}"
        return NormalisedId(canonical, HN2013, change, canonical in known_ids(HN2013))
    return None


class Answer(StrEnum):
    YES = "yes"
    NO = "no"
    NA = "n/a"
    SEE_NOTE = "see_note"
    BLANK = "blank"
    TEXT = "text"  # free text (document fields: manufacturer, model...)


_BLANK = re.compile(r"^[\s_\-–—.]*$")


def parse_answer(value: object) -> tuple[Answer, str | None]:
    """(kind of answer, its text) from a cell: 'Yes, LDAP' -> (YES, 'Yes, LDAP')."""
    if value is None:
        return Answer.BLANK, None
    text = str(value).strip()
    if _BLANK.match(text) or text.lower() in {"(blank)", "blank"}:
        return Answer.BLANK, None
    low = text.lower()
    if re.match(r"^yes\b", low):
        return Answer.YES, text
    if re.match(r"^no\b", low) and not low.startswith("note"):
        return Answer.NO, text
    if re.match(r"^(n/?a|not applicable)\b", low):
        return Answer.NA, text
    if low.startswith("see note") or low.startswith("see notes"):
        return Answer.SEE_NOTE, text
    return Answer.TEXT, text
