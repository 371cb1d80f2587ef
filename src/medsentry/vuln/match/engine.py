"""The indexed matcher: SBOM components against advisories' affected products.

Affected products are indexed once by what identifies a package:

* purl  -> (type, namespace, name)           version checked with the ecosystem's order;
* CPE   -> (vendor, product)                 other attributes and the version range checked;
* names -> (canonical vendor, product name)  version checked against tolerant vendor text;
  products an advisory files under a placeholder vendor ("multiple open source") by product
  name alone. A component's names come from its name, purl and CPE, its vendors from its
  supplier, CPE vendor or source-host purl namespace (:mod:`.identity`).

Ranges are compiled on first use and cached by their string (many products share one), and
component versions are parsed once per (scheme, version), so matching touches only the few
products filed under each component's keys. Every :class:`~medsentry.vuln.model.Match` says
why it matched (``reason``) and carries the evidence in ``details``: ``method``, ``range``,
``version``, ``scheme``, ``matched_on``, ``advisory_id`` (when known) and, for name matches,
``version_text`` and ``notes``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from medsentry.errors import InputError
from medsentry.vuln.match.cpe import Cpe, attributes_match, check_cpe_version, try_parse_cpe
from medsentry.vuln.match.generic import generic_key
from medsentry.vuln.match.identity import identity_of, name_keys
from medsentry.vuln.match.names import AliasTable, default_aliases, without_remarks
from medsentry.vuln.match.purl import Purl, parse_version, try_parse_purl
from medsentry.vuln.match.vers import compile_vers
from medsentry.vuln.match.versions import CONFIDENCE_ALL, CONFIDENCE_RANGE, parse_version_text
from medsentry.vuln.model import (
    Advisory,
    AffectedProduct,
    Component,
    Match,
    MatchMethod,
    ProductStatus,
)

CONFIDENCE_PURL = 0.95
CONFIDENCE_PURL_FALLBACK = 0.75  # version not valid in the ecosystem; generic order used
CONFIDENCE_CPE = 0.85
CONFIDENCE_ANY_VERSION = 0.7  # purl/CPE with no version bound at all
CONFIDENCE_UNVERSIONED = 0.3  # component without a version (opt-in)
NAME_PRODUCT_ONLY_FACTOR = 0.8  # component gave no vendor at all; vendor not confirmed

DEFAULT_STATUSES = frozenset({ProductStatus.KNOWN_AFFECTED, ProductStatus.UNDER_INVESTIGATION})


# One indexed product: (product, advisory id, parsed purl or CPE or None). Plain tuples:
# hundreds of thousands are built per index, and tuples are the cheapest to make.
_Entry = tuple[AffectedProduct, str | None, Any]


@dataclass(slots=True)
class MatcherStats:
    products: int = 0
    by_purl: int = 0
    by_cpe: int = 0
    by_name: int = 0
    skipped_status: int = 0
    unindexed: int = 0  # no usable purl, CPE or vendor/product
    range_errors: int = 0  # ranges that could not be compiled when checked
    errors: list[str] = field(default_factory=list)


class Matcher:
    """Index affected products once, then match any number of components against them.

    ``products`` are :class:`AffectedProduct` or ``(advisory_id, AffectedProduct)`` pairs.
    Only products whose status is in ``statuses`` are indexed (affected and under
    investigation by default). ``match_unversioned`` also reports components that have no
    version, at low confidence, instead of skipping them.
    """

    def __init__(
        self,
        products: Iterable[AffectedProduct | tuple[str | None, AffectedProduct]],
        *,
        aliases: AliasTable | None = None,
        statuses: Iterable[ProductStatus] = DEFAULT_STATUSES,
        match_unversioned: bool = False,
    ) -> None:
        self.aliases = aliases or default_aliases()
        self.statuses = frozenset(statuses)
        self.match_unversioned = match_unversioned
        self.stats = MatcherStats()
        # purl/CPE keys hold groups of products that share one identifier string, so the
        # index costs one list append per product and one parse per distinct identifier.
        self._purl: dict[tuple[str, str, str], list[tuple[Purl, list[AffectedProduct]]]] = {}
        self._cpe: dict[tuple[str, str], list[tuple[Cpe, list[AffectedProduct]]]] = {}
        self._advisory: dict[int, str] = {}  # id(product) -> advisory id, when given
        self._name: dict[tuple[str, str], list[_Entry]] = {}
        self._name_by_product: dict[str, list[_Entry]] = {}
        self._name_unnamed: dict[str, list[_Entry]] = {}  # placeholder vendor: by product
        by_purl: dict[str, list[AffectedProduct]] = {}
        by_cpe: dict[str, list[AffectedProduct]] = {}
        statuses_ok = self.statuses
        for item in products:
            if isinstance(item, tuple):
                advisory_id, product = item
                if advisory_id:
                    self._advisory[id(product)] = advisory_id
            else:
                product = item
            if product.status not in statuses_ok:
                self.stats.skipped_status += 1
                continue
            key = product.purl
            if key:
                group = by_purl.get(key)
                if group is None:
                    by_purl[key] = [product]
                else:
                    group.append(product)
            elif product.cpe:
                by_cpe.setdefault(product.cpe, []).append(product)
            else:
                self._add_by_name(product)
        # Parse each distinct identifier once: advisories repeat the same package many times.
        for text, products_ in by_purl.items():
            purl = try_parse_purl(text)
            if purl is None:
                for product in products_:
                    self._add_fallback(product)
                continue
            self._purl.setdefault(purl.package_key, []).append((purl, products_))
            self.stats.by_purl += len(products_)
        for text, products_ in by_cpe.items():
            cpe = try_parse_cpe(text)
            if cpe is None:
                for product in products_:
                    self._add_by_name(product)
                continue
            self._cpe.setdefault(cpe.key, []).append((cpe, products_))
            self.stats.by_cpe += len(products_)
        self.stats.products = (
            self.stats.by_purl
            + self.stats.by_cpe
            + self.stats.by_name
            + self.stats.skipped_status
            + self.stats.unindexed
        )

    @classmethod
    def from_advisories(cls, advisories: Iterable[Advisory], **kwargs: Any) -> Matcher:
        """A matcher over every product of every advisory (ids kept in match details)."""
        pairs = ((a.id, p) for a in advisories for p in a.products)
        return cls(pairs, **kwargs)

    # ------------------------------------------------------------------ indexing

    def _add_fallback(self, product: AffectedProduct) -> None:
        """A product whose purl is unreadable: try its CPE, then its names."""
        cpe = try_parse_cpe(product.cpe)
        if cpe is not None:
            self._cpe.setdefault(cpe.key, []).append((cpe, [product]))
            self.stats.by_cpe += 1
        else:
            self._add_by_name(product)

    def _add_by_name(self, product: AffectedProduct) -> None:
        """File a product under its name keys: with and without remarks in parentheses."""
        aliases = self.aliases
        name = product.product
        if not name or aliases.is_unnamed_vendor(name):
            self.stats.unindexed += 1
            return
        entry: _Entry = (product, None, None)
        variants = dict.fromkeys((name, without_remarks(name).strip()))
        filed = False
        if not aliases.is_unnamed_vendor(product.vendor):
            vkey = aliases.vendor_key(product.vendor)
            for variant in variants:
                pkey = aliases.product_key(vkey, variant)
                if pkey:
                    _file(self._name, (vkey, pkey), entry)
                    _file(self._name_by_product, pkey, entry)
                    filed = True
        else:
            for variant in variants:
                pkey = aliases.product_name(variant)
                if not pkey:
                    continue
                _file(self._name_unnamed, pkey, entry)
                filed = True
                # "Amazon FreeRTOS" under "multiple": also file it under a known vendor.
                first, _, rest = pkey.partition(" ")
                vkey = aliases.vendor_key(first)
                if rest and vkey in aliases.vendor_keys.values():
                    _file(self._name, (vkey, aliases.product_key(vkey, pkey)), entry)
        if filed:
            self.stats.by_name += 1
        else:
            self.stats.unindexed += 1

    # ------------------------------------------------------------------ matching

    def match(self, components: Iterable[Component]) -> list[Match]:
        """Every match of every component, best evidence per (component, product)."""
        out: list[Match] = []
        for component in components:
            out.extend(self.match_component(component))
        return out

    def match_component(self, component: Component) -> list[Match]:
        best: dict[int, Match] = {}
        for m in self._candidates(component):
            key = id(m.product)
            if key not in best or m.confidence > best[key].confidence:
                best[key] = m
        return list(best.values())

    def _candidates(self, component: Component) -> Iterator[Match]:
        purl = try_parse_purl(component.purl)
        if purl is not None:
            purl_groups = self._purl.get(purl.package_key)
            if purl_groups:
                yield from self._match_purl(component, purl, purl_groups)
        cpes: list[Cpe] = []
        for text in component.cpes:
            cpe = try_parse_cpe(text)
            if cpe is not None:
                cpes.append(cpe)
                cpe_groups = self._cpe.get(cpe.key)
                if cpe_groups:
                    yield from self._match_cpe(component, cpe, cpe_groups)
        if self._name or self._name_unnamed:
            yield from self._match_names(component, purl, tuple(cpes))

    def _version_of(self, component: Component, purl: Purl | None = None) -> str | None:
        if purl is not None and purl.version:
            return purl.version
        return component.version or None

    def _match_purl(
        self, component: Component, purl: Purl, groups: list[tuple[Purl, list[AffectedProduct]]]
    ) -> Iterator[Match]:
        version = self._version_of(component, purl)
        matched_on = purl.to_string()
        for affected, products in groups:
            if affected.qualifiers and not _qualifiers_compatible(affected, purl):
                continue
            for product in products:
                yield from self._check_purl_product(
                    component, purl, affected, product, version, matched_on
                )

    def _check_purl_product(
        self,
        component: Component,
        purl: Purl,
        affected: Purl,
        product: AffectedProduct,
        version: str | None,
        matched_on: str,
    ) -> Iterator[Match]:
        entry: _Entry = (product, None, affected)
        if version is None:
            if self.match_unversioned:
                yield self._unversioned(component, entry, MatchMethod.PURL, matched_on)
            return
        if product.vers:
            verdict = self._check_vers(product.vers, purl.version_scheme, version)
            if verdict is None:
                return
            inside, scheme, fallback = verdict
            if not inside:
                return
            confidence = CONFIDENCE_PURL_FALLBACK if fallback else CONFIDENCE_PURL
            how = "generic order (not a valid " + scheme + " version)" if fallback else scheme
            reason = f"purl {matched_on}: version {version} is in {product.vers} ({how})"
            yield self._make(
                component,
                entry,
                MatchMethod.PURL,
                reason,
                confidence,
                rng=product.vers,
                version=version,
                scheme=scheme,
                matched_on=matched_on,
            )
        elif affected.version:
            scheme = purl.version_scheme
            a, b = parse_version(scheme, version), parse_version(scheme, affected.version)
            if a is None or b is None:
                equal = generic_key(version) == generic_key(affected.version)
            else:
                equal = a == b
            if not equal:
                return
            reason = f"purl {matched_on}: version {version} is the affected version"
            yield self._make(
                component,
                entry,
                MatchMethod.PURL,
                reason,
                CONFIDENCE_PURL,
                rng=f"={affected.version}",
                version=version,
                scheme=scheme,
                matched_on=matched_on,
            )
        else:
            reason = f"purl {matched_on}: the advisory names the package without versions"
            yield self._make(
                component,
                entry,
                MatchMethod.PURL,
                reason,
                CONFIDENCE_ANY_VERSION,
                rng="*",
                version=version,
                scheme=purl.version_scheme,
                matched_on=matched_on,
            )

    def _check_vers(
        self, vers: str, default_scheme: str, version: str
    ) -> tuple[bool, str, bool] | None:
        """(inside, scheme, used_fallback) or ``None`` when the range is unusable."""
        try:
            compiled = compile_vers(vers)
        except InputError as exc:
            self.stats.range_errors += 1
            if len(self.stats.errors) < 100:
                self.stats.errors.append(str(exc))
            return None
        if compiled.star:
            return True, compiled.scheme, False
        value = parse_version(compiled.scheme, version)
        if value is not None:
            return compiled.contains(value), compiled.scheme, False
        # The component's version is not valid in the ecosystem (vendor-patched builds,
        # typos): compare in the generic order rather than drop the candidate silently.
        generic_range = vers.split("/", 1)
        try:
            fallback = compile_vers("vers:generic/" + generic_range[1])
        except (InputError, IndexError):
            return None
        return fallback.contains(generic_key(version)), compiled.scheme, True

    def _match_cpe(
        self, component: Component, cpe: Cpe, groups: list[tuple[Cpe, list[AffectedProduct]]]
    ) -> Iterator[Match]:
        matched_on = cpe.to_string()
        for affected, products in groups:
            if not attributes_match(affected, cpe):
                continue
            for product in products:
                yield from self._check_cpe_product(component, cpe, affected, product, matched_on)

    def _check_cpe_product(
        self,
        component: Component,
        cpe: Cpe,
        affected: Cpe,
        product: AffectedProduct,
        matched_on: str,
    ) -> Iterator[Match]:
        entry: _Entry = (product, None, affected)
        check = check_cpe_version(affected, product.vers, cpe, component.version)
        if check.compared is None:
            if self.match_unversioned and check.against != "no version":
                yield self._unversioned(component, entry, MatchMethod.CPE, matched_on)
            return
        if not check.matched:
            return
        any_version = check.against == "any version"
        confidence = CONFIDENCE_ANY_VERSION if any_version else CONFIDENCE_CPE
        reason = f"CPE {matched_on} matches {affected.to_string()}; version {check.compared} " + (
            "(the advisory gives no version bound)" if any_version else f"in {check.against}"
        )
        yield self._make(
            component,
            entry,
            MatchMethod.CPE,
            reason,
            confidence,
            rng=check.against,
            version=check.compared,
            scheme="generic",
            matched_on=matched_on,
        )

    def _match_names(
        self, component: Component, purl: Purl | None, cpes: tuple[Cpe, ...]
    ) -> Iterator[Match]:
        identity = identity_of(component, purl, cpes)
        best: dict[int, tuple[_Entry, float, str]] = {}

        def offer(entries: Iterable[_Entry], factor: float, matched_on: str) -> None:
            for entry in entries:
                held = best.get(id(entry))
                if held is None or factor > held[1]:
                    best[id(entry)] = (entry, factor, matched_on)

        for key in name_keys(identity, self.aliases):
            if key.vendor:
                offer(self._name.get((key.vendor, key.product), ()), key.factor, key.matched_on)
            else:
                offer(self._name_unnamed.get(key.product, ()), key.factor, key.matched_on)
        if not identity.has_vendor:
            # Nothing says who makes it: the product name alone, whoever the vendor is.
            for name in identity.names:
                pkey = self.aliases.product_key("", name)
                shown = f"product {name!r} (the component names no vendor)"
                offer(self._name_by_product.get(pkey, ()), NAME_PRODUCT_ONLY_FACTOR, shown)
        for entry, factor, matched_on in best.values():
            yield from self._check_name_entry(component, entry, factor, matched_on)

    def _check_name_entry(
        self, component: Component, entry: _Entry, factor: float, matched_on: str
    ) -> Iterator[Match]:
        product = entry[0]
        version = component.version
        if version is None:
            if self.match_unversioned:
                yield self._unversioned(component, entry, MatchMethod.VENDOR_PRODUCT, matched_on)
            return
        verdict = self._check_vers(product.vers, "generic", version) if product.vers else None
        if verdict is not None:
            if not verdict[0]:
                return
            star = compile_vers(product.vers or "").star
            rng, notes, text = product.vers or "", "", product.version_text or product.vers or ""
            base = CONFIDENCE_ALL if star else CONFIDENCE_RANGE
        else:
            # No vers, or one the spec rejects ("vers:all/<V14.2.0.3" in CISA files): read
            # the text tolerantly rather than drop the product.
            text = product.version_text or product.vers or "all versions"
            parsed = parse_version_text(text)
            if parsed.range is None or not parsed.range.contains(version):
                return
            rng, base, notes = parsed.range.describe(), parsed.confidence, "; ".join(parsed.notes)
        confidence = round(base * factor, 2)
        reason = (
            f"{matched_on} matches {product.vendor!r} / {product.product!r}; version {version} "
            f"is within {rng!r} read from the advisory text {text!r} (free-text match: lower "
            "confidence, please confirm)"
        )
        yield self._make(
            component,
            entry,
            MatchMethod.VENDOR_PRODUCT,
            reason,
            confidence,
            rng=rng,
            version=version,
            scheme="generic",
            matched_on=matched_on,
            version_text=text,
            notes=notes,
        )

    # ------------------------------------------------------------------ results

    def _unversioned(
        self, component: Component, entry: _Entry, method: MatchMethod, matched_on: str
    ) -> Match:
        reason = (
            f"{method.value} {matched_on} names an affected product, but the component has no "
            "version, so the affected range could not be checked"
        )
        rng = entry[0].vers or entry[0].version_text or "*"
        return self._make(
            component,
            entry,
            method,
            reason,
            CONFIDENCE_UNVERSIONED,
            rng=rng,
            version="",
            scheme="",
            matched_on=matched_on,
            version_checked="false",
        )

    def _make(
        self,
        component: Component,
        entry: _Entry,
        method: MatchMethod,
        reason: str,
        confidence: float,
        rng: str,
        **details: str,
    ) -> Match:
        info = {"method": method.value, "version_checked": "true", "range": rng, **details}
        advisory_id = entry[1] or self._advisory.get(id(entry[0]))
        if advisory_id:
            info["advisory_id"] = advisory_id
        return Match(
            component_ref=component.ref,
            product=entry[0],
            method=method,
            reason=reason,
            confidence=confidence,
            details={k: v for k, v in info.items() if v != ""},
        )


def _file(index: dict[Any, list[_Entry]], key: Any, entry: _Entry) -> None:
    group = index.get(key)
    if group is None:
        index[key] = [entry]
    elif not any(held is entry for held in group):
        group.append(entry)


# Release codenames some SBOM generators write in the distro qualifier instead of numbers.
_CODENAMES = {
    "debian": {"stretch": "9", "buster": "10", "bullseye": "11", "bookworm": "12", "trixie": "13"},
    "ubuntu": {"bionic": "18.04", "focal": "20.04", "jammy": "22.04", "noble": "24.04"},
}


def distro_release(namespace: str | None, value: str) -> str:
    """``distro`` qualifier spelled one way: ``<distro>-<release>`` ("3.22.0" -> alpine-3.22.0)."""
    low = value.lower()
    ns = (namespace or "").lower()
    low = _CODENAMES.get(ns, {}).get(low, low)
    if low[:1].isdigit() and ns:
        return f"{ns}-{low}"
    return low


def _qualifiers_compatible(affected: Purl, component: Purl) -> bool:
    """Distro-scoped advisories (``distro`` qualifier) only hit the same distro release."""
    distro = affected.qualifier("distro")
    if not distro:
        return True
    theirs = component.qualifier("distro")
    if not theirs:
        return True  # unknown release: cannot rule it out
    ours = distro_release(affected.namespace, distro)
    theirs = distro_release(component.namespace, theirs)
    return theirs == ours or theirs.startswith(ours + ".") or ours.startswith(theirs + ".")
