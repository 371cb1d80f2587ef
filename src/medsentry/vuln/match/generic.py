"""Ordering for versions that belong to no package ecosystem (CPE, vendor advisories).

univers' ``GenericVersion`` compares plain strings ("10.0" < "9.0"), which is wrong for the
firmware and product versions medical-device advisories use. This key follows the usual
"split into numeric and alphabetic runs" approach:

* runs of digits compare as integers, so ``10.0 > 9.0`` and ``06.08 == 6.8``;
* a leading ``v``/``V`` before a digit is ignored (``V14.2 == 14.2``);
* trailing zero components are ignored (``1.0 == 1.0.0``);
* pre-release words (alpha, beta, rc, dev, pre, preview, snapshot) sort before the release;
* a single letter glued to a number (``1.0.2k``, ``2.4A``) and words such as ``patch``,
  ``sp``, ``update``, ``build``, ``post`` sort after the release;
* other words compare alphabetically among themselves, before numbers (``B.06 < C.02``).

Keys are plain tuples, so comparing them is as fast as Python gets.
"""

from __future__ import annotations

import re
from functools import lru_cache

_RUN = re.compile(r"\d+|[a-z]+")
_PRE_RELEASE = {
    "dev": 0,
    "snapshot": 0,
    "alpha": 1,
    "a": 1,
    "beta": 2,
    "b": 2,
    "pre": 3,
    "preview": 3,
    "rc": 4,
    "cr": 4,
}
_POST_RELEASE = {"patch", "p", "sp", "update", "upd", "build", "post", "pl", "r", "rev", "sr"}

# Token kinds, in sort order. END marks the end of every key, so a longer version that
# continues with a number or post-release word sorts after, and one that continues with
# a pre-release word sorts before.
_PRE, _WORD, _END, _POST, _NUM = 0, 1, 2, 3, 4
_END_TOKEN = (_END, 0, "")

GenericKey = tuple[tuple[int, int, str], ...]


@lru_cache(maxsize=262144)
def generic_key(text: str) -> GenericKey:
    """The comparable key of a free-form version string (see module docstring)."""
    low = text.strip().lower()
    if low[:1] == "v" and low[1:2].isdigit():
        low = low[1:]
    tokens: list[tuple[int, int, str]] = []
    prev_end = -1
    prev_was_num = False
    for m in _RUN.finditer(low):
        run = m.group()
        glued = m.start() == prev_end
        if run.isdigit():
            tokens.append((_NUM, int(run), ""))
            prev_was_num = True
        else:
            followed_by_digit = low[m.end() : m.end() + 1].isdigit()
            if len(run) == 1 and glued and prev_was_num and not followed_by_digit:
                tokens.append((_POST, 0, run))  # letter release: 1.0.2k, 2.4A
            elif run in _PRE_RELEASE:
                tokens.append((_PRE, _PRE_RELEASE[run], run))
            elif run in _POST_RELEASE:
                tokens.append((_POST, 0, run))
            else:
                tokens.append((_WORD, 0, run))
            prev_was_num = False
        prev_end = m.end()
    while tokens and tokens[-1] == (_NUM, 0, ""):
        tokens.pop()
    tokens.append(_END_TOKEN)
    return tuple(tokens)


def compare_generic(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` sorts before, equal to or after ``b``."""
    ka, kb = generic_key(a), generic_key(b)
    return (ka > kb) - (ka < kb)


def looks_like_version(text: str) -> bool:
    """True when ``text`` holds at least one digit run, i.e. can be ordered meaningfully."""
    return any(ch.isdigit() for ch in text)
