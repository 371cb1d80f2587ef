"""Comparing manufacturer and model names across sources (inventory, MDS2 forms, recalls)."""

from __future__ import annotations

from medsentry.vuln.match.names import default_aliases


def maker_key(name: str | None) -> str:
    """Normalised maker name (company-form words dropped, known aliases folded)."""
    return default_aliases().vendor_key(name) if name else ""


def same_maker(a: str | None, b: str | None) -> bool:
    """True when one name's words start the other's: 'Philips Medical Systems' ~ 'PHILIPS'."""
    ka, kb = maker_key(a).split(), maker_key(b).split()
    if not ka or not kb:
        return False
    n = min(len(ka), len(kb))
    return ka[:n] == kb[:n]


def norm_model(text: str | None) -> str:
    """Letters and digits only, lower case: 'IntelliVue MX-450' -> 'intellivuemx450'."""
    return "".join(ch for ch in (text or "").lower() if ch.isalnum())
