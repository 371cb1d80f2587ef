"""What an SBOM component calls itself, for matching by vendor and product name.

Real SBOMs often leave ``supplier`` empty but still say who makes a component through its
CPE (``cpe:2.3:o:amazon:freertos:10.0.1``) or its purl (``pkg:github/nxp-mcuxpresso/mcux-sdk``).
Name matching reads all of them: the component name, the purl name and the CPE product as
product names; the supplier/author/group, the CPE vendor and the namespace of a source-host
purl as vendors. Each yields lookup keys with a factor saying how much the name evidence is
worth (a vendor the component states outright beats a product name alone).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from medsentry.vuln.match.cpe import Cpe, try_parse_cpe
from medsentry.vuln.match.names import AliasTable, normalise_name, without_remarks
from medsentry.vuln.match.purl import Purl, try_parse_purl
from medsentry.vuln.model import Component

# Purl types whose namespace is the organisation publishing the code.
_VENDOR_NAMESPACE_TYPES = frozenset({"github", "gitlab", "bitbucket"})

FACTOR_VENDOR = 1.0  # a vendor the component states (supplier/author/group) or its CPE names
FACTOR_NAMESPACE = 0.9  # the organisation in a source-host purl
FACTOR_PRODUCT_ONLY = 0.8  # no vendor evidence on one side: the product name alone


@dataclass(frozen=True, slots=True)
class Identity:
    """A component's names: ``names`` as written, ``vendors`` as (text, where it came from)."""

    names: tuple[str, ...]
    vendors: tuple[tuple[str, str], ...]

    @property
    def has_vendor(self) -> bool:
        return bool(self.vendors)


@dataclass(frozen=True, slots=True)
class NameKey:
    """One lookup: ``vendor`` is a vendor key, or "" for products filed without a vendor."""

    vendor: str
    product: str
    factor: float
    matched_on: str


def identity_of(
    component: Component, purl: Purl | None = None, cpes: tuple[Cpe, ...] | None = None
) -> Identity:
    """Names and vendors of a component (``purl``/``cpes`` when the caller parsed them)."""
    if purl is None:
        purl = try_parse_purl(component.purl)
    if cpes is None:
        cpes = tuple(c for c in (try_parse_cpe(t) for t in component.cpes) if c is not None)
    names = [component.name]
    if purl is not None:
        names.append(purl.name)
    names.extend(c.product.replace("_", " ") for c in cpes if c.product not in ("*", "-"))
    vendors = [(v, "supplier") for v in (component.supplier, component.author, component.group)]
    vendors += [(c.vendor.replace("_", " "), "CPE vendor") for c in cpes if c.vendor != "*"]
    if purl is not None and purl.namespace and purl.type in _VENDOR_NAMESPACE_TYPES:
        vendors.append((purl.namespace, "purl namespace"))
    return Identity(
        names=_distinct(names),
        vendors=tuple(dict.fromkeys((text, where) for text, where in vendors if text)),
    )


def _distinct(texts: list[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for text in texts:
        norm = normalise_name(text)
        if norm and norm not in seen:
            seen[norm] = text
    return tuple(seen.values())


def name_keys(identity: Identity, table: AliasTable) -> Iterator[NameKey]:
    """Every (vendor key, product key) a component may be filed under, strongest first.

    With a vendor: that vendor's key and the product name without a leading vendor name.
    For products an advisory files under no vendor: the product name alone (weaker), and
    "vendor + product" ("amazon" + "freertos" reads "amazon freertos").
    """
    for vendor, where in identity.vendors:
        vkey = table.vendor_key(vendor)
        factor = FACTOR_NAMESPACE if where == "purl namespace" else FACTOR_VENDOR
        for name in identity.names:
            shown = f"{where} {vendor!r}, product {name!r}"
            for variant in _variants(name):
                yield NameKey(vkey, table.product_key(vkey, variant), factor, shown)
                combined = table.product_name(f"{vendor} {variant}")
                if not normalise_name(variant).startswith(normalise_name(vendor)):
                    yield NameKey("", combined, factor, shown)
    for name in identity.names:
        shown = f"product {name!r} (no vendor on one side)"
        for variant in _variants(name):
            yield NameKey("", table.product_name(variant), FACTOR_PRODUCT_ONLY, shown)


def _variants(name: str) -> tuple[str, ...]:
    bare = without_remarks(name).strip()
    return (name, bare) if bare and normalise_name(bare) != normalise_name(name) else (name,)
