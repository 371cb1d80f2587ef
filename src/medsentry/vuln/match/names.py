"""Vendor and product name normalisation for advisories without purl or CPE.

Two names match when their normalised keys are equal. Normalising lowercases, strips accents
and punctuation, reads "&" as "and", drops company-form words (Inc., Ltd., GmbH, ...) and
maps known aliases (``aliases.yaml``, editable, validated on load) to one canonical vendor.
Product keys also lose a leading vendor name ("GE Healthcare Optima CT670" and "Optima
CT670" from GE HealthCare are the same product), and known product aliases fold to one name
("NXP SDK" and "MCUXpresso SDK" are NXP's "MCUXpresso SDK"). Advisories that cover many
projects at once write a placeholder vendor ("multiple open source", "n/a"); those products
are matched by product name alone (:meth:`AliasTable.is_unnamed_vendor`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from medsentry.errors import ConfigError

_COMPANY_WORDS = frozenset(
    {
        "inc",
        "incorporated",
        "ltd",
        "limited",
        "llc",
        "corp",
        "corporation",
        "co",
        "company",
        "gmbh",
        "ag",
        "sa",
        "se",
        "nv",
        "bv",
        "plc",
        "kg",
        "international",
        "the",
    }
)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
# Remarks in parentheses: "picoTCP (EOL)", "SCALANCE X208PRO (6GK5208-0HA10-2AA6)".
_PARENTHESES = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")


@lru_cache(maxsize=65536)
def normalise_name(text: str) -> str:
    """Lowercase ASCII words with punctuation and company-form words removed."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    low = ascii_text.lower().replace("&", " and ")
    words = [w for w in _NON_ALNUM.split(low) if w and w not in _COMPANY_WORDS]
    return " ".join(words)


def without_remarks(text: str) -> str:
    """``text`` without parenthesised remarks ("picoTCP (EOL)" -> "picoTCP")."""
    previous = None
    while previous != text:  # nested: "uIP-Contiki-OS (end-of-life [EOL])"
        previous, text = text, _PARENTHESES.sub(" ", text)
    return text


class AliasFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vendors: dict[str, list[str]]
    # Placeholder vendor names of multi-project advisories; their products match by name.
    unnamed_vendors: list[str] = []
    # Canonical product name (vendor included) -> other names of the same product.
    products: dict[str, list[str]] = {}

    @field_validator("vendors")
    @classmethod
    def _non_empty(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for canonical, aliases in value.items():
            if not normalise_name(canonical):
                raise ValueError(f"vendor {canonical!r} is empty once normalised")
            if any(not isinstance(a, str) or not normalise_name(a) for a in aliases):
                raise ValueError(f"vendor {canonical!r} has an empty alias")
        return value

    @field_validator("products")
    @classmethod
    def _products_non_empty(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for canonical, aliases in value.items():
            if not normalise_name(canonical) or any(not normalise_name(a) for a in aliases):
                raise ValueError(f"product {canonical!r} or one of its aliases is empty")
        return value


def _fold(groups: dict[str, list[str]], what: str, source: str) -> dict[str, str]:
    """Normalised alias -> normalised canonical name; an alias may belong to one group only."""
    keys: dict[str, str] = {}
    for canonical, aliases in groups.items():
        target = normalise_name(canonical)
        for name in [canonical, *aliases]:
            norm = normalise_name(name)
            if keys.get(norm, target) != target:
                raise ConfigError(
                    f"{source}: {name!r} is listed under both {keys[norm]!r} and "
                    f"{target!r}; keep it under one {what}"
                )
            keys[norm] = target
    return keys


@dataclass(frozen=True)
class AliasTable:
    """Normalised alias -> canonical vendor key (and the same for products)."""

    vendor_keys: dict[str, str]
    unnamed: frozenset[str] = frozenset()
    product_names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_yaml(cls, text: str, source: str = "aliases.yaml") -> AliasTable:
        try:
            parsed = AliasFile.model_validate(yaml.safe_load(text))
        except (ValidationError, yaml.YAMLError) as exc:
            raise ConfigError(f"{source} is invalid; fix it and retry: {exc}") from exc
        return cls(
            _fold(parsed.vendors, "vendor", source),
            frozenset(normalise_name(v) for v in parsed.unnamed_vendors),
            _fold(parsed.products, "product", source),
        )

    @classmethod
    def from_path(cls, path: Path) -> AliasTable:
        return cls.from_yaml(path.read_text(encoding="utf-8"), str(path))

    def vendor_key(self, vendor: str | None) -> str:
        """The canonical key of a vendor name ("" when there is none)."""
        if not vendor:
            return ""
        norm = normalise_name(vendor)
        return self.vendor_keys.get(norm, norm)

    def vendor_names(self, key: str) -> list[str]:
        """Every normalised spelling that maps to ``key`` (the key included)."""
        return [alias for alias, target in self.vendor_keys.items() if target == key] or [key]

    def is_unnamed_vendor(self, vendor: str | None) -> bool:
        """True for no vendor or a placeholder ("multiple", "n/a") instead of a vendor."""
        return not vendor or normalise_name(vendor) in self.unnamed

    def product_name(self, product: str | None) -> str:
        """The product name normalised, with a known alias folded to its canonical name."""
        norm = normalise_name(product or "")
        return self.product_names.get(norm, norm)

    def product_key(self, vendor_key: str, product: str | None) -> str:
        """The product name normalised, without a leading vendor name."""
        norm = self.product_name(product)
        for prefix in sorted(self._prefixes(vendor_key), key=len, reverse=True):
            if norm.startswith(prefix + " ") and len(norm) > len(prefix) + 1:
                return norm[len(prefix) + 1 :]
        return norm

    def _prefixes(self, vendor_key: str) -> list[str]:
        return self._prefix_cache().get(vendor_key, [vendor_key] if vendor_key else [])

    @cache  # noqa: B019 - tables live for the whole process
    def _prefix_cache(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for alias, target in self.vendor_keys.items():
            out.setdefault(target, [target])
            if alias != target:
                out[target].append(alias)
        return out

    def __hash__(self) -> int:
        return id(self)


@cache
def default_aliases() -> AliasTable:
    """The alias table shipped with MedSentry."""
    text = resources.files("medsentry.vuln.match").joinpath("aliases.yaml").read_text("utf-8")
    return AliasTable.from_yaml(text)


def same_vendor(a: str | None, b: str | None, table: AliasTable | None = None) -> bool:
    t = table or default_aliases()
    return bool(a and b) and t.vendor_key(a) == t.vendor_key(b)
