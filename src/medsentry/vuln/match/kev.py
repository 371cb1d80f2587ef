"""CISA KEV entries matched to components by vendor and product name.

The KEV catalog names a vendor and a product ("JQuery" / "JQuery", "Ubiquiti" / "AirOS")
but no versions. A component whose names match an entry is therefore only a lead: the
version cannot be checked, so the match stays well below any advisory match, says so in its
reason, and opens findings as ``under_investigation``. Entries that name no product
("Multiple Chipsets", "Multiple Products") are never matched by name: they say nothing
about which product is concerned.

Findings whose vulnerability is in KEV are linked by CVE id elsewhere
(:mod:`medsentry.vuln.findings`); this module is for inventory without such a finding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from medsentry.vuln.match.identity import FACTOR_PRODUCT_ONLY, identity_of, name_keys
from medsentry.vuln.match.names import AliasTable, default_aliases
from medsentry.vuln.model import AffectedProduct, Component, Match, MatchMethod, ProductStatus

CONFIDENCE_KEV_NAME = 0.3  # names only, version unknown: a lead, never a claim
_NO_PRODUCT = ("multiple", "various", "unspecified")


@dataclass(frozen=True, slots=True)
class KevEntry:
    cve: str
    vendor: str
    product: str
    name: str | None = None
    due_date: str | None = None
    ransomware: str | None = None  # "Known" / "Unknown", as the catalog says


@dataclass(slots=True)
class KevNameStats:
    entries: int = 0
    indexed: int = 0
    no_product: int = 0  # "Multiple Chipsets" and the like


@dataclass
class KevNameMatcher:
    """Index KEV entries once by (vendor key, product key), then match components."""

    entries: Iterable[KevEntry]
    aliases: AliasTable = field(default_factory=default_aliases)
    stats: KevNameStats = field(default_factory=KevNameStats)

    def __post_init__(self) -> None:
        self._by_key: dict[tuple[str, str], list[tuple[KevEntry, AffectedProduct]]] = {}
        self._by_product: dict[str, list[tuple[KevEntry, AffectedProduct]]] = {}
        for entry in self.entries:
            self.stats.entries += 1
            vkey = self.aliases.vendor_key(entry.vendor)
            pkey = self.aliases.product_key(vkey, entry.product)
            if not vkey or not pkey or pkey.startswith(_NO_PRODUCT):
                self.stats.no_product += 1
                continue
            item = (entry, _as_product(entry))
            self._by_key.setdefault((vkey, pkey), []).append(item)
            self._by_product.setdefault(pkey, []).append(item)
            self.stats.indexed += 1

    def match_component(self, component: Component) -> list[Match]:
        identity = identity_of(component)
        best: dict[str, tuple[KevEntry, AffectedProduct, float, str]] = {}
        found: list[tuple[list[tuple[KevEntry, AffectedProduct]], float, str]] = []
        for key in name_keys(identity, self.aliases):
            if key.vendor:
                items = self._by_key.get((key.vendor, key.product), [])
                found.append((items, key.factor, key.matched_on))
        if not identity.has_vendor:
            for name in identity.names:
                pkey = self.aliases.product_key("", name)
                shown = f"product {name!r} (the component names no vendor)"
                found.append((self._by_product.get(pkey, []), FACTOR_PRODUCT_ONLY, shown))
        for items, factor, matched_on in found:
            for entry, product in items:
                held = best.get(entry.cve)
                if held is None or factor > held[2]:
                    best[entry.cve] = (entry, product, factor, matched_on)
        return [self._make(component, *held) for held in best.values()]

    def match(self, components: Iterable[Component]) -> list[Match]:
        return [m for c in components for m in self.match_component(c)]

    def _make(
        self,
        component: Component,
        entry: KevEntry,
        product: AffectedProduct,
        factor: float,
        matched_on: str,
    ) -> Match:
        version = component.version or "(none)"
        ransomware = " and used in ransomware campaigns" if _known(entry.ransomware) else ""
        reason = (
            f"{matched_on} matches the CISA KEV entry {entry.vendor!r} / {entry.product!r} "
            f"({entry.cve}, exploited in the wild{ransomware}); KEV lists no affected "
            f"versions, so version {version} was NOT checked: a lead to confirm against the "
            "vendor's advisory, not a confirmed finding"
        )
        details = {
            "method": MatchMethod.KEV_NAME.value,
            "version_checked": "false",
            "range": "unknown (KEV gives no versions)",
            "version": component.version or "",
            "matched_on": matched_on,
            "advisory_id": entry.cve,
            "kev_due_date": entry.due_date or "",
            "kev_ransomware": entry.ransomware or "",
        }
        return Match(
            component_ref=component.ref,
            product=product,
            method=MatchMethod.KEV_NAME,
            reason=reason,
            confidence=round(CONFIDENCE_KEV_NAME * factor, 2),
            details={k: v for k, v in details.items() if v != ""},
        )


def _as_product(entry: KevEntry) -> AffectedProduct:
    return AffectedProduct(
        product_id=f"KEV {entry.vendor} / {entry.product}"[:256],
        vendor=entry.vendor,
        product=entry.product,
        version_text=None,
        status=ProductStatus.UNDER_INVESTIGATION,
        cves=(entry.cve,),
        full_name=entry.name,
    )


def _known(flag: str | None) -> bool:
    return (flag or "").strip().lower() == "known"
