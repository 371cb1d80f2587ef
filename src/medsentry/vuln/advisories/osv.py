"""OSV vulnerability entries (a single JSON object or a list of them) → ``Advisory``.

Each affected package becomes products identified by purl, one per range, with the range
written as a vers string in the package's ecosystem scheme. GIT ranges (commit hashes) cannot
be compared with an SBOM's versions, so only the explicit ``versions`` list stands for them.
"""

from __future__ import annotations

from typing import Any

from packageurl import PackageURL

from medsentry.vuln.advisories.common import bound, cvss_version, vers_string
from medsentry.vuln.io import DocumentError, as_list, parse_datetime
from medsentry.vuln.model import (
    Advisory,
    AffectedProduct,
    ProductStatus,
    Reference,
    Score,
    Vulnerability,
)

SOURCE = "osv"

# OSV ecosystem → purl type (which is also the vers scheme).
ECOSYSTEM_PURL = {
    "npm": "npm",
    "pypi": "pypi",
    "maven": "maven",
    "go": "golang",
    "crates.io": "cargo",
    "rubygems": "gem",
    "nuget": "nuget",
    "packagist": "composer",
    "hex": "hex",
    "pub": "pub",
    "debian": "deb",
    "ubuntu": "deb",
    "alpine": "apk",
    "hackage": "hackage",
    "cran": "cran",
    "conancenter": "conan",
    "swifturl": "swift",
    "github actions": "github",
    "rocky linux": "rpm",
    "almalinux": "rpm",
    "red hat": "rpm",
    "suse": "rpm",
    "opensuse": "rpm",
    "photon os": "rpm",
    "wolfi": "apk",
    "chainguard": "apk",
}


def looks_like_osv(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and "id" in doc
        and "modified" in doc
        and ("affected" in doc or "schema_version" in doc or "aliases" in doc)
    )


def parse_osv(doc: dict[str, Any], source: str) -> Advisory:
    if not doc.get("id") or not isinstance(doc.get("id"), str):
        raise DocumentError(source, "OSV entry without an id")
    osv_id = doc["id"]
    aliases = tuple(str(a) for a in as_list(doc.get("aliases")))
    cves = tuple(a for a in (osv_id, *aliases) if a.upper().startswith("CVE-"))
    scores = tuple(_scores(doc.get("severity"), osv_id))
    products: list[AffectedProduct] = []
    for a_i, affected in enumerate(as_list(doc.get("affected"))):
        if not isinstance(affected, dict):
            raise DocumentError(source, f"/affected/{a_i} is not an object")
        products.extend(_products(affected, a_i, cves or (osv_id,)))
    details = doc.get("details") or doc.get("summary")
    return Advisory(
        id=osv_id,
        source=SOURCE,
        title=doc.get("summary"),
        revision=doc.get("modified"),
        published=parse_datetime(doc.get("published")),
        modified=parse_datetime(doc.get("modified")),
        cves=cves,
        scores=scores,
        references=tuple(
            Reference(url=str(r["url"]), category=r.get("type"))
            for r in as_list(doc.get("references"))
            if isinstance(r, dict) and r.get("url")
        ),
        products=tuple(products),
        vulnerabilities=(
            Vulnerability(
                id=cves[0] if cves else osv_id,
                title=doc.get("summary"),
                description=details,
                scores=scores,
                aliases=(osv_id, *aliases),
            ),
        ),
        source_path=source,
    )


def _scores(entries: Any, vid: str) -> list[Score]:
    out = []
    for s in as_list(entries):
        if isinstance(s, dict) and str(s.get("type", "")).startswith("CVSS") and s.get("score"):
            vector = str(s["score"])
            out.append(Score(version=cvss_version(vector), vector=vector, source="osv", cve=vid))
    return out


def _purl(package: dict[str, Any]) -> tuple[str | None, str]:
    """The package's purl (without version) and the vers scheme for its versions."""
    given = package.get("purl")
    ecosystem = str(package.get("ecosystem") or "").split(":", 1)[0].strip().lower()
    ptype = ECOSYSTEM_PURL.get(ecosystem)
    if given:
        try:
            parsed = PackageURL.from_string(str(given))
            return parsed._replace(version=None).to_string(), parsed.type
        except ValueError:
            return str(given), ptype or "generic"
    name = package.get("name")
    if not ptype or not name:
        return None, ptype or "generic"
    namespace = None
    if ptype == "maven" and ":" in name:
        namespace, name = name.split(":", 1)
    elif ptype in {"npm", "golang", "composer", "swift", "github"} and "/" in name:
        namespace, name = name.rsplit("/", 1)
    return PackageURL(type=ptype, namespace=namespace, name=name).to_string(), ptype


def _products(affected: dict[str, Any], index: int, cves: tuple[str, ...]) -> list[AffectedProduct]:
    package = affected.get("package") if isinstance(affected.get("package"), dict) else {}
    assert isinstance(package, dict)
    purl, scheme = _purl(package)
    name = package.get("name")
    out: list[AffectedProduct] = []
    for r_i, rng in enumerate(as_list(affected.get("ranges"))):
        if not isinstance(rng, dict) or rng.get("type") == "GIT":
            continue
        rng_scheme = scheme if rng.get("type") == "ECOSYSTEM" else "semver"
        constraints = _range_constraints(rng.get("events"))
        if not constraints:
            constraints = ["*"]
        out.append(
            AffectedProduct(
                product_id=f"affected[{index}].ranges[{r_i}]",
                vendor=None,
                product=name,
                version_text=" ".join(constraints),
                purl=purl,
                vers=vers_string(rng_scheme, constraints),
                status=ProductStatus.KNOWN_AFFECTED,
                cves=cves,
            )
        )
    versions = [str(v) for v in as_list(affected.get("versions"))]
    if versions and not out:
        out.append(
            AffectedProduct(
                product_id=f"affected[{index}].versions",
                product=name,
                version_text=", ".join(versions),
                purl=purl,
                vers=vers_string(scheme, [v.replace("|", "%7C") for v in versions]),
                status=ProductStatus.KNOWN_AFFECTED,
                cves=cves,
            )
        )
    return out


def _range_constraints(events: Any) -> list[str]:
    """OSV events in order → vers constraints, one interval after another."""
    out: list[str] = []
    for event in as_list(events):
        if not isinstance(event, dict):
            continue
        if "introduced" in event:
            out += bound(">=", event["introduced"])
        elif "fixed" in event:
            out += bound("<", event["fixed"])
        elif "last_affected" in event:
            out += bound("<=", event["last_affected"])
        elif "limit" in event and event["limit"] != "*":
            out += bound("<", event["limit"])
    return out
