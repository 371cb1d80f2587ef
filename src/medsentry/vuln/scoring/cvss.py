"""CVSS v2, v3.0, v3.1 and v4.0 scores through the ``cvss`` package.

v2 and v3.x give three scores (base, temporal, environmental). v4.0 gives one score whose
name depends on the metric groups present (CVSS-B, CVSS-BT, CVSS-BE, CVSS-BTE); we report it
as ``base`` when only base metrics are set, and always as ``overall``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError as _LibError

from medsentry.errors import InputError


class CvssError(InputError):
    """A CVSS vector cannot be read."""


@dataclass(frozen=True, slots=True)
class CvssScore:
    version: str  # "2.0", "3.0", "3.1", "4.0"
    vector: str  # cleaned vector as the library writes it
    base: float
    temporal: float | None
    environmental: float | None
    overall: float  # the score to act on: environmental > temporal > base (v4: the one score)
    severity: str  # of ``overall``: None/Low/Medium/High/Critical (v2: Low/Medium/High)
    nomenclature: str  # v4: CVSS-B/BT/BE/BTE; v2/v3: "CVSS-B" or with T/E when present


_TEMPORAL = ("E", "RL", "RC")
_ENVIRONMENTAL = ("CR", "IR", "AR", "MAV", "MAC", "MAT", "MPR", "MUI", "MS", "MC", "MI", "MA")
_ENVIRONMENTAL_V4: tuple[str, ...] = ("CR", "IR", "AR", "MAV", "MAC", "MAT", "MPR", "MUI")
_ENVIRONMENTAL_V4 += ("MVC", "MVI", "MVA", "MSC", "MSI", "MSA")


def _nomenclature(vector: str, temporal: tuple[str, ...], env: tuple[str, ...]) -> str:
    """CVSS-B, -BT, -BE or -BTE from the metric groups the vector actually sets."""
    given = {k: v for k, _, v in (p.partition(":") for p in vector.split("/"))}
    has_t = any(given.get(m, "X") != "X" for m in temporal)
    has_e = any(given.get(m, "X") != "X" for m in env)
    return "CVSS-B" + ("T" if has_t else "") + ("E" if has_e else "")


def score_vector(vector: str) -> CvssScore:
    """Score a CVSS vector of any supported version; raises :class:`CvssError`."""
    text = vector.strip()
    try:
        if text.startswith("CVSS:4.0/"):
            c4 = CVSS4(text)
            score = float(c4.base_score)
            nomen = _nomenclature(text, ("E",), _ENVIRONMENTAL_V4)
            base = score if nomen == "CVSS-B" else float("nan")
            return CvssScore(
                "4.0", c4.clean_vector(), base, None, None, score, str(c4.severity), nomen
            )
        if text.startswith(("CVSS:3.0/", "CVSS:3.1/")):
            c3 = CVSS3(text)
            b, t, e = (float(x) for x in c3.scores())
            sev = c3.severities()
            nomen = _nomenclature(text, _TEMPORAL, _ENVIRONMENTAL)
            overall, severity = (
                (e, sev[2]) if "E" in nomen[6:] else ((t, sev[1]) if "T" in nomen else (b, sev[0]))
            )
            return CvssScore(text[5:8], c3.clean_vector(), b, t, e, overall, severity, nomen)
        c2 = CVSS2(text.removeprefix("CVSS:2.0/"))
        s2 = c2.scores()
        sev2 = c2.severities()
        base2 = float(s2[0])
        temporal2 = None if s2[1] is None else float(s2[1])
        env2 = None if s2[2] is None else float(s2[2])
        overall2 = env2 if env2 is not None else (temporal2 if temporal2 is not None else base2)
        idx = 2 if env2 is not None else (1 if temporal2 is not None else 0)
        nomen2 = _nomenclature(text, _TEMPORAL, ("CDP", "TD", "CR", "IR", "AR"))
        return CvssScore(
            "2.0", c2.clean_vector(), base2, temporal2, env2, overall2, str(sev2[idx]), nomen2
        )
    except (_LibError, ValueError, KeyError, IndexError) as exc:
        raise CvssError(f"{vector!r} is not a valid CVSS vector: {exc}") from exc


def severity_of(score: float) -> str:
    """The CVSS v3/v4 qualitative rating of a score."""
    if score == 0:
        return "None"
    if score < 4.0:
        return "Low"
    if score < 7.0:
        return "Medium"
    if score < 9.0:
        return "High"
    return "Critical"


def replace_metrics(vector: str, changes: dict[str, str]) -> str:
    """A vector with some metric values replaced (or appended when absent)."""
    prefix, _, body = vector.partition("/") if vector.startswith("CVSS:") else ("", "", vector)
    parts = [p for p in body.split("/") if p]
    seen = set()
    out = []
    for part in parts:
        key, _, value = part.partition(":")
        if key in changes:
            value = changes[key]
            seen.add(key)
        out.append(f"{key}:{value}")
    out.extend(f"{k}:{v}" for k, v in changes.items() if k not in seen)
    return (prefix + "/" if prefix else "") + "/".join(out)
