"""osv-scanner's SBOM fixtures with the results osv-scanner recorded for them.

The snapshot tables list, per SBOM, the vulnerable package, its version, the OSV id and the
fixed version. We turn each row into an affected product (the package's purl, scoped to the
distro release, affected below the fixed version) and require that matching every SBOM
against all of them finds exactly the recorded (SBOM, package, version, id) rows: nothing
missed and nothing extra (e.g. musl-utils must not inherit musl's advisory, Alpine 3.22
advisories must not hit Alpine 3.17 packages, malformed purls must be skipped).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from defusedxml import ElementTree

from medsentry.vuln.match.engine import Matcher
from medsentry.vuln.model import AffectedProduct, Component

BASE = "vuln/matching/osv-scanner"
SBOM_DIR = "cmd/osv-scanner/scan/source/testdata/sbom-insecure"
BLOCKS = (
    "[TestCommand/folder_of_supported_sbom_with_vulns - 1]",
    "[TestCommand/folder_of_supported_sbom_with_only_unimportant#01 - 1]",
)


def _ecosystem_purl(ecosystem: str, package: str) -> tuple[str, str]:
    """(purl without version, vers scheme) for an OSV ecosystem and package name."""
    name, _, release = ecosystem.partition(":")
    if name == "Alpine":
        return f"pkg:apk/alpine/{package}?distro=alpine-{release.lstrip('v')}", "apk"
    if name == "Debian":
        return f"pkg:deb/debian/{package}?distro=debian-{release}", "deb"
    if name == "Ubuntu":
        return f"pkg:deb/ubuntu/{package}?distro=ubuntu-{release.split(':')[0]}", "deb"
    if name == "Go":
        return f"pkg:golang/{package}", "golang"
    raise AssertionError(f"unexpected ecosystem {ecosystem}")


def _expected_rows(snapshot: str) -> list[dict[str, str]]:
    rows = []
    for header in BLOCKS:
        block = snapshot.split(header, 1)[1].split("\n---", 1)[0]
        for line in block.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 7 or not cells[0].startswith("https://osv.dev/") or not cells[2]:
                continue
            url, _cvss, eco, package, version, fixed, source = cells
            rows.append(
                {
                    "id": url.rsplit("/", 1)[1],
                    "ecosystem": eco,
                    "package": package,
                    "version": version,
                    "fixed": fixed,
                    "sbom": source.split(":", 1)[0].rsplit("/", 1)[1],
                }
            )
    return rows


def _sbom_purls(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".xml":
        root = ElementTree.fromstring(text)
        return [el.text or "" for el in root.iter() if el.tag.endswith("}purl")]
    data = json.loads(text)
    if "components" in data:
        return [c.get("purl", "") for c in data["components"]]
    return [
        ref["referenceLocator"]
        for pkg in data.get("packages", [])
        for ref in pkg.get("externalRefs", [])
        if ref.get("referenceType") == "purl"
    ]


def test_osv_scanner_fixtures_expected_matches(corpus: Path) -> None:
    base = corpus / BASE
    rows = _expected_rows((base / "sbom_snapshots_extract.snap").read_text())
    assert len(rows) >= 20
    products = []
    for row in rows:
        purl, scheme = _ecosystem_purl(row["ecosystem"], row["package"])
        vers = f"vers:{scheme}/*" if row["fixed"] == "--" else f"vers:{scheme}/<{row['fixed']}"
        products.append((row["id"], AffectedProduct(product_id=row["id"], purl=purl, vers=vers)))
    matcher = Matcher(products)
    assert matcher.stats.by_purl == len(rows)

    expected = {(r["sbom"], r["package"], r["version"], r["id"]) for r in rows}
    found = set()
    sboms = sorted(p for p in (base / SBOM_DIR).iterdir() if p.suffix in (".xml", ".json"))
    assert len(sboms) == 6
    for path in sboms:
        comps = [
            Component(ref=f"{path.name}#{i}", name="", purl=purl)
            for i, purl in enumerate(_sbom_purls(path))
        ]
        by_ref = {c.ref: c for c in comps}
        for m in matcher.match(comps):
            purl = by_ref[m.component_ref].purl or ""
            pkg = re.sub(r"^pkg:[^/]+/", "", purl).split("@")[0]
            if pkg.startswith(("alpine/", "debian/", "ubuntu/")):
                pkg = pkg.split("/", 1)[1]
            version = m.details["version"]
            found.add((path.name, pkg, version, m.details["advisory_id"]))
            assert m.details["method"] == "purl" and m.confidence >= 0.9
            assert m.details["version"] in m.reason
    # osv-scanner reports the Go versions without their "v" prefix in some rows
    normalise = {(s, p, v.lstrip("v"), i) for s, p, v, i in found}
    assert normalise == {(s, p, v.lstrip("v"), i) for s, p, v, i in expected}
    print(f"osv-scanner fixtures: {len(found)} matches = {len(expected)} expected rows")
