"""The indexed matcher and the vendor alias table."""

from __future__ import annotations

from pathlib import Path

import pytest

from medsentry.errors import ConfigError
from medsentry.vuln.match.engine import Matcher, distro_release
from medsentry.vuln.match.names import AliasTable, default_aliases, normalise_name, same_vendor
from medsentry.vuln.model import (
    Advisory,
    AffectedProduct,
    Component,
    MatchMethod,
    ProductStatus,
)


def _comp(ref: str, **kw: object) -> Component:
    return Component(ref=ref, name=str(kw.pop("name", ref)), **kw)  # type: ignore[arg-type]


def test_purl_match_explains_itself() -> None:
    ap = AffectedProduct(product_id="p1", purl="pkg:npm/lodash", vers="vers:npm/<4.17.21")
    matcher = Matcher([("GHSA-1", ap)])
    hits = matcher.match(
        [
            _comp("a", purl="pkg:npm/lodash@4.17.15"),
            _comp("b", purl="pkg:npm/lodash@4.17.21"),
            _comp("c", purl="pkg:npm/underscore@1.0.0"),
        ]
    )
    assert [m.component_ref for m in hits] == ["a"]
    m = hits[0]
    assert m.method is MatchMethod.PURL and m.confidence >= 0.9
    assert m.details["range"] == "vers:npm/<4.17.21" and m.details["version"] == "4.17.15"
    assert m.details["advisory_id"] == "GHSA-1" and m.details["scheme"] == "npm"
    assert "4.17.15" in m.reason and "vers:npm/<4.17.21" in m.reason


def test_ecosystem_order_not_string_order() -> None:
    ap = AffectedProduct(
        product_id="p", purl="pkg:deb/debian/openssl", vers="vers:deb/<1.1.1n-0+deb11u5"
    )
    matcher = Matcher([ap])
    assert matcher.match([_comp("x", purl="pkg:deb/debian/openssl@1.1.1n-0+deb11u4")])
    assert not matcher.match([_comp("y", purl="pkg:deb/debian/openssl@1.1.1n-0+deb11u10")])


def test_exact_version_purl_and_any_version() -> None:
    exact = AffectedProduct(product_id="e", purl="pkg:pypi/django@3.2.1")
    anyv = AffectedProduct(product_id="a", purl="pkg:pypi/flask")
    matcher = Matcher([exact, anyv])
    hits = matcher.match(
        [_comp("d", purl="pkg:pypi/Django@3.2.1"), _comp("f", purl="pkg:pypi/flask@2.0")]
    )
    by_ref = {m.component_ref: m for m in hits}
    assert by_ref["d"].details["range"] == "=3.2.1"
    assert by_ref["f"].confidence < by_ref["d"].confidence


def test_unversioned_components_are_opt_in() -> None:
    ap = AffectedProduct(product_id="p", purl="pkg:npm/lodash", vers="vers:npm/<4.17.21")
    comp = _comp("a", purl="pkg:npm/lodash")
    assert Matcher([ap]).match([comp]) == []
    hits = Matcher([ap], match_unversioned=True).match([comp])
    assert hits[0].confidence <= 0.3 and hits[0].details["version_checked"] == "false"


def test_statuses_filter_and_advisories() -> None:
    fixed = AffectedProduct(
        product_id="f", purl="pkg:npm/a", vers="vers:npm/<2.0.0", status=ProductStatus.FIXED
    )
    hit = AffectedProduct(product_id="h", purl="pkg:npm/a", vers="vers:npm/<2.0.0")
    adv = Advisory(id="ADV-1", source="osv", products=(fixed, hit))
    matcher = Matcher.from_advisories([adv])
    assert matcher.stats.skipped_status == 1 and matcher.stats.by_purl == 1
    (m,) = matcher.match([_comp("c", purl="pkg:npm/a@1.0.0")])
    assert m.product.product_id == "h" and m.details["advisory_id"] == "ADV-1"


def test_cpe_match_with_nvd_range() -> None:
    ap = AffectedProduct(
        product_id="c",
        cpe="cpe:2.3:a:openssl:openssl:*:*:*:*:*:*:*:*",
        vers="vers:generic/>=1.0.2|<1.0.2u",
    )
    matcher = Matcher([ap])
    inside = _comp("in", cpes=("cpe:2.3:a:openssl:openssl:1.0.2k:*:*:*:*:*:*:*",))
    outside = _comp("out", cpes=("cpe:2.3:a:openssl:openssl:1.1.1:*:*:*:*:*:*:*",))
    via_version = _comp("v", version="1.0.2t", cpes=("cpe:2.3:a:openssl:openssl:*:*:*:*:*:*:*:*",))
    refs = sorted(m.component_ref for m in matcher.match([inside, outside, via_version]))
    assert refs == ["in", "v"]


def test_best_evidence_wins_when_purl_and_cpe_both_hit() -> None:
    ap = AffectedProduct(
        product_id="x",
        purl="pkg:generic/busybox",
        vers="vers:generic/<1.36.0",
    )
    comp = _comp(
        "b",
        purl="pkg:generic/busybox@1.35.0",
        cpes=("cpe:2.3:a:busybox:busybox:1.35.0:*:*:*:*:*:*:*",),
    )
    hits = Matcher([ap]).match([comp])
    assert len(hits) == 1 and hits[0].method is MatchMethod.PURL


def test_vendor_product_text_match_is_lower_confidence() -> None:
    ap = AffectedProduct(
        product_id="CSAFPID-1",
        vendor="Baxter International Inc.",
        product="Baxter Sigma Spectrum",
        version_text="<= 8.00.01",
    )
    matcher = Matcher([("ICSMA-20-170-03", ap)])
    hit = _comp("pump", name="Sigma Spectrum", supplier="Baxter", version="8.00")
    miss = _comp("new", name="Sigma Spectrum", supplier="Baxter", version="9.0")
    other = _comp("ge", name="Sigma Spectrum", supplier="GE Healthcare", version="8.0")
    nosupplier = _comp("anon", name="Sigma Spectrum", version="8.0")
    hits = {m.component_ref: m for m in matcher.match([hit, miss, other, nosupplier])}
    assert set(hits) == {"pump", "anon"}
    assert hits["pump"].method is MatchMethod.VENDOR_PRODUCT
    assert hits["pump"].confidence <= 0.6 and hits["anon"].confidence < hits["pump"].confidence
    assert (
        "<= 8.00.01" in hits["pump"].reason and hits["pump"].details["version_text"] == "<= 8.00.01"
    )


def test_unparseable_vendor_text_never_matches() -> None:
    ap = AffectedProduct(
        product_id="p",
        vendor="Abbott",
        product="Assurity MRI",
        version_text="manufactured prior to August 28",
    )
    comp = _comp("c", name="Assurity MRI", supplier="Abbott", version="1.0")
    assert Matcher([ap]).match([comp]) == []


def test_bad_ranges_are_counted_not_raised() -> None:
    ap = AffectedProduct(product_id="p", purl="pkg:npm/a", vers="vers:npm/<not*valid")
    matcher = Matcher([ap])
    assert matcher.match([_comp("c", purl="pkg:npm/a@1.0.0")]) == []
    assert matcher.stats.range_errors == 1 and matcher.stats.errors


def test_unindexable_products_are_counted() -> None:
    matcher = Matcher([AffectedProduct(product_id="nothing")])
    assert matcher.stats.unindexed == 1


def test_distro_release_spellings() -> None:
    assert distro_release("alpine", "3.22.0") == "alpine-3.22.0"
    assert distro_release("ubuntu", "focal") == "ubuntu-20.04"
    assert distro_release("debian", "debian-9") == "debian-9"


def test_alias_table() -> None:
    t = default_aliases()
    assert t.vendor_key("Baxter International") == t.vendor_key("Baxter") == "baxter"
    assert t.vendor_key("GE HealthCare") == t.vendor_key("General Electric Healthcare")
    assert t.vendor_key("Dräger") == t.vendor_key("Draeger")
    assert t.product_key("ge healthcare", "GE Healthcare Optima CT670") == "optima ct670"
    assert same_vendor("Becton, Dickinson and Company (BD)", "BD")
    assert not same_vendor("Philips", "Siemens")
    assert normalise_name("Smiths Medical ASD, Inc.") == "smiths medical asd"


def test_alias_file_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "aliases.yaml"
    bad.write_text("vendors:\n  acme: [Foo]\n  other: [foo inc]\n")
    with pytest.raises(ConfigError, match="under both"):
        AliasTable.from_path(bad)
    bad.write_text("vendors: [not, a, mapping]\n")
    with pytest.raises(ConfigError):
        AliasTable.from_path(bad)
    good = tmp_path / "ok.yaml"
    good.write_text("vendors:\n  acme: [ACME Medical Devices Ltd]\n")
    assert AliasTable.from_path(good).vendor_key("acme medical devices") == "acme"
