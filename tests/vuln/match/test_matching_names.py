"""Name matching for multi-project advisories (AMNESIA:33, BadAlloc style) and component
identities read from supplier, CPE and purl; the KEV name matcher.

The advisory products here are written the way CISA's ICSA files write them (placeholder
vendor, project in the product name, remarks in parentheses); the components are made up.
"""

from __future__ import annotations

import pytest

from medsentry.vuln.match.engine import Matcher
from medsentry.vuln.match.identity import identity_of
from medsentry.vuln.match.kev import KevEntry, KevNameMatcher
from medsentry.vuln.match.names import default_aliases, without_remarks
from medsentry.vuln.model import AffectedProduct, Component, MatchMethod, ProductStatus


def _comp(ref: str, **kw: object) -> Component:
    return Component(ref=ref, name=str(kw.pop("name", ref)), **kw)  # type: ignore[arg-type]


def _product(
    vendor: str, product: str, version_text: str, vers: str | None = None
) -> AffectedProduct:
    return AffectedProduct(
        product_id=f"{product}:{version_text}",
        vendor=vendor,
        product=product,
        version_text=version_text,
        vers=vers,
        cves=("CVE-2099-0001",),
    )


def _hits(matcher: Matcher, *components: Component) -> dict[str, float]:
    return {m.component_ref: m.confidence for m in matcher.match(components)}


def test_placeholder_vendor_products_match_by_name_at_lower_confidence() -> None:
    lwip = _product("multiple open source", "lwIP", "prior to 2.1.3")
    matcher = Matcher([("ICSA-X", lwip)])
    inside = _comp("old", name="lwip", version="2.1.2")
    fixed = _comp("fixed", name="lwip", version="2.1.3")
    other = _comp("contrib", name="lwip-contrib", version="2.1.0")
    (match,) = matcher.match([inside, fixed, other])
    assert match.component_ref == "old" and match.method is MatchMethod.VENDOR_PRODUCT
    assert match.confidence == pytest.approx(0.55 * 0.8)
    assert "prior to 2.1.3" in match.reason and "free-text match" in match.reason
    assert match.details["advisory_id"] == "ICSA-X"
    assert matcher.stats.by_name == 1 and matcher.stats.unindexed == 0


def test_remarks_in_parentheses_do_not_hide_the_product() -> None:
    assert without_remarks("uIP-Contiki-OS (end-of-life [EOL])").strip() == "uIP-Contiki-OS"
    matcher = Matcher([_product("multiple", "picoTCP (EOL)", "<= 1.7.0")])
    hits = _hits(
        matcher,
        _comp("pico", name="picoTCP", version="1.7.0"),
        _comp("newer", name="picoTCP", version="1.7.1"),
        _comp("exact", name="picoTCP (EOL)", version="1.5"),
        _comp("ng", name="picoTCP-NG", version="1.7.0"),
    )
    assert set(hits) == {"pico", "exact"}


def test_vendor_inside_product_name_is_confirmed_by_supplier_or_cpe() -> None:
    freertos = _product("multiple", "Amazon FreeRTOS", "10.4.1")
    matcher = Matcher([freertos])
    by_supplier = _comp("s", name="FreeRTOS", version="10.4.1", supplier="Amazon")
    by_cpe = _comp(
        "c",
        name="FreeRTOS-Kernel",
        version="V10.4.1",
        cpes=("cpe:2.3:o:amazon:freertos:V10.4.1:*:*:*:*:*:*:*",),
    )
    older = _comp("o", name="FreeRTOS", version="10.0.1", supplier="Amazon")
    fork = _comp("f", name="FreeRTOS", version="10.4.1", supplier="Espressif")
    hits = _hits(matcher, by_supplier, by_cpe, older, fork)
    # the advisory lists 10.4.1 alone; an older release is not claimed, nor another vendor's
    assert set(hits) == {"s", "c"}
    assert hits["s"] == hits["c"] == pytest.approx(0.6)


def test_product_aliases_fold_known_other_names() -> None:
    sdk = _product("multiple", "NXP MCUXpresso SDK", "< 2.8.2")
    matcher = Matcher([sdk])
    named = _comp("name", name="NXP SDK", version="2.8.0", supplier="NXP")
    by_purl = _comp("purl", name="sdk", version="2.8.1", purl="pkg:github/nxp-mcuxpresso/mcux-sdk")
    fixed = _comp("fixed", name="NXP SDK", version="2.8.2", supplier="NXP")
    assert set(_hits(matcher, named, by_purl, fixed)) == {"name", "purl"}
    t = default_aliases()
    assert t.product_name("mcux-sdk") == t.product_name("NXP SDK") == "nxp mcuxpresso sdk"
    assert t.is_unnamed_vendor("Multiple Open Source") and t.is_unnamed_vendor(None)
    assert not t.is_unnamed_vendor("Treck Inc.")


def test_a_component_vendor_that_disagrees_blocks_a_vendor_product() -> None:
    matcher = Matcher([_product("Baxter", "Sigma Spectrum", "<= 8.00.01")])
    # CPE says someone else made it: the product-name-only fallback does not apply
    other = _comp(
        "x",
        name="Sigma Spectrum",
        version="8.0",
        cpes=("cpe:2.3:a:acme:sigma_spectrum:8.0:*:*:*:*:*:*:*",),
    )
    by_cpe_vendor = _comp(
        "b",
        name="Sigma Spectrum",
        version="8.0",
        cpes=("cpe:2.3:a:baxter:sigma_spectrum:8.0:*:*:*:*:*:*:*",),
    )
    assert set(_hits(matcher, other, by_cpe_vendor)) == {"b"}


def test_vers_all_with_a_bound_is_read_as_vendor_text() -> None:
    # CISA writes "vers:all/<V14.2.0.3", which the vers spec rejects (all allows only *)
    jt = _product("Siemens", "JT2Go", "vers:all/<V14.2.0.3", vers="vers:all/<V14.2.0.3")
    star = _product("Siemens", "SINEC INS", "vers:all/*", vers="vers:all/*")
    matcher = Matcher([jt, star])
    hits = _hits(
        matcher,
        _comp("old", name="JT2Go", version="14.1", supplier="Siemens"),
        _comp("new", name="JT2Go", version="14.2.0.3", supplier="Siemens"),
        _comp("ins", name="SINEC INS", version="1.0", supplier="Siemens"),
    )
    assert set(hits) == {"old", "ins"}
    assert hits["ins"] == pytest.approx(0.45)  # "all versions" is the weakest version claim


def test_identity_reads_supplier_cpe_and_source_host_purl() -> None:
    comp = _comp(
        "c",
        name="NXP SDK",
        supplier="NXP",
        purl="pkg:github/nxp-mcuxpresso/mcux-sdk",
        cpes=("cpe:2.3:a:nxp:nxp_sdk:2.9.0:*:*:*:*:*:*:*",),
    )
    identity = identity_of(comp)
    assert identity.names == ("NXP SDK", "mcux-sdk")  # "nxp sdk" from the CPE is the same
    assert identity.vendors == (
        ("NXP", "supplier"),
        ("nxp", "CPE vendor"),
        ("nxp-mcuxpresso", "purl namespace"),
    )
    nuget = identity_of(_comp("n", name="jQuery", purl="pkg:nuget/jQuery@3.1.1"))
    assert nuget.vendors == ()  # a registry purl has no publisher namespace


KEV = [
    KevEntry("CVE-2020-11023", "JQuery", "JQuery", "JQuery XSS", "2025-02-13", "Unknown"),
    KevEntry("CVE-2021-44228", "Apache", "Log4j2", "Log4Shell", "2021-12-24", "Known"),
    KevEntry("CVE-2010-5330", "Ubiquiti", "AirOS", "AirOS injection", "2022-05-06", "Unknown"),
    KevEntry("CVE-2025-21479", "Qualcomm", "Multiple Chipsets", "chipsets", "2025-06-24", None),
]


def test_kev_names_give_version_blind_leads_only_for_the_named_product() -> None:
    matcher = KevNameMatcher(KEV)
    assert matcher.stats.indexed == 3 and matcher.stats.no_product == 1
    jquery = _comp("jq", name="jQuery", version="3.1.1", supplier="The jQuery Foundation")
    log4j = _comp("l4j", name="log4j2", version="2.14.1", supplier="Apache Software Foundation")
    log4net = _comp(
        "l4n", name="log4net", version="2.0.8", supplier="The Apache Software Foundation"
    )
    unifi = _comp("uap", name="UAP-AC-Pro", supplier="Ubiquiti")
    chip = _comp("qca", name="Qualcomm Atheros QCA9563", supplier="Qualcomm")
    leads = {m.component_ref: m for m in matcher.match([jquery, log4j, log4net, unifi, chip])}
    assert set(leads) == {"jq"}
    lead = leads["jq"]
    assert lead.method is MatchMethod.KEV_NAME and lead.confidence == pytest.approx(0.3)
    assert lead.product.status is ProductStatus.UNDER_INVESTIGATION
    assert lead.product.cves == ("CVE-2020-11023",)
    assert lead.details["version_checked"] == "false" and "NOT checked" in lead.reason
    assert lead.details["kev_due_date"] == "2025-02-13"


def test_kev_vendor_aliases_and_ransomware_in_the_reason() -> None:
    t = default_aliases()
    assert t.vendor_key("the_jquery_foundation") == t.vendor_key("JQuery") == "jquery"
    # "Apache" and "The Apache Software Foundation" are not folded: names alone decide
    log4j = _comp("l", name="Log4j2", version="2.14.1", supplier="Apache")
    (lead,) = KevNameMatcher(KEV).match([log4j])
    assert "ransomware" in lead.reason and lead.details["kev_ransomware"] == "Known"
    anonymous = _comp("a", name="log4j2", version="2.0")
    (weak,) = KevNameMatcher(KEV).match([anonymous])
    assert weak.confidence < lead.confidence  # no vendor on the component: product name only
