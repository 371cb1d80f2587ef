"""CPE parsing and matching with NVD-style version ranges."""

from __future__ import annotations

import pytest

from medsentry.vuln.match.cpe import (
    ANY,
    NA,
    CpeError,
    NvdRange,
    attribute_matches,
    attributes_match,
    check_cpe_version,
    parse_cpe,
    try_parse_cpe,
)


def test_parse_formatted_string_with_escapes() -> None:
    cpe = parse_cpe(r"cpe:2.3:a:microsoft:internet_explorer:8\.0\.6001:beta:*:*:*:*:*:*")
    assert cpe.key == ("microsoft", "internet_explorer")
    assert cpe.version == "8.0.6001" and cpe.update == "beta" and cpe.edition == ANY
    assert parse_cpe(cpe.to_string()) == cpe


def test_parse_22_uri() -> None:
    cpe = parse_cpe("cpe:/o:Linux:Linux_Kernel:4.19%2b")
    assert (cpe.part, cpe.vendor, cpe.product, cpe.version) == (
        "o",
        "linux",
        "linux_kernel",
        "4.19+",
    )
    assert cpe.update == ANY


@pytest.mark.parametrize(
    "text",
    [
        "",
        "cpe:2.3:a:openssl",
        "cpe:2.3:x:v:p:1:*:*:*:*:*:*:*",
        "cpe:2.3:a:*:*:*:*:*:*:*:*:*:*",
        "x",
    ],
)
def test_bad_cpes(text: str) -> None:
    with pytest.raises(CpeError):
        parse_cpe(text)
    assert try_parse_cpe(text) is None


def test_attribute_rules() -> None:
    assert attribute_matches(ANY, "x") and attribute_matches("x", ANY)
    assert attribute_matches(NA, NA) and not attribute_matches(NA, "x")
    assert attribute_matches("8.*", "8.0.1") and not attribute_matches("8.?", "8.10")
    a = parse_cpe("cpe:2.3:a:openssl:openssl:*:*:*:*:*:*:x64:*")
    assert attributes_match(a, parse_cpe("cpe:2.3:a:openssl:openssl:1.1.1:*:*:*:*:*:x64:*"))
    assert not attributes_match(a, parse_cpe("cpe:2.3:a:openssl:openssl:1.1.1:*:*:*:*:*:arm:*"))


def test_nvd_range_bounds() -> None:
    rng = NvdRange(start_including="1.1.1", end_excluding="1.1.1l")
    assert rng.to_vers() == "vers:generic/>=1.1.1|<1.1.1l"
    assert rng.contains("1.1.1k") and rng.contains("1.1.1") and not rng.contains("1.1.1l")
    assert not NvdRange(start_excluding="2.0", end_including="3.0").contains("2.0")
    assert NvdRange(start_excluding="2.0", end_including="3.0").contains("3.0")
    assert NvdRange().to_vers() is None and NvdRange().contains("anything")


def test_version_checks() -> None:
    comp = parse_cpe("cpe:2.3:a:openssl:openssl:1.0.2k:*:*:*:*:*:*:*")
    exact = parse_cpe("cpe:2.3:a:openssl:openssl:1.0.2k:*:*:*:*:*:*:*")
    ranged = parse_cpe("cpe:2.3:a:openssl:openssl:*:*:*:*:*:*:*:*")
    assert check_cpe_version(exact, None, comp, None).matched
    assert check_cpe_version(ranged, "vers:generic/>=1.0.2|<1.0.2l", comp, None).matched
    assert not check_cpe_version(ranged, "vers:generic/<1.0.2", comp, None).matched
    unversioned = parse_cpe("cpe:2.3:a:openssl:openssl:*:*:*:*:*:*:*:*")
    check = check_cpe_version(ranged, "vers:generic/<2", unversioned, "1.9")
    assert check.matched and check.compared == "1.9"
    assert check_cpe_version(ranged, None, unversioned, "1.9").against == "any version"
    assert not check_cpe_version(ranged, "vers:generic/<2", unversioned, None).matched
