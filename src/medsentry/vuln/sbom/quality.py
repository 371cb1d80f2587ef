"""SBOM quality: the NTIA minimum elements, the FDA premarket additions, and the flaws that
quietly break vulnerability matching (purls without versions, CPEs that disagree with the
component's version, malformed identifiers).

NTIA minimum elements (2021): supplier name, component name, version, other unique
identifiers, dependency relationships, author of the SBOM data, timestamp. As in the SPDX
NTIA conformance checker, a package's originator stands in for a missing supplier.

FDA additions (premarket cybersecurity guidance, 2023): level of support and end-of-support
date for each component, and the known vulnerabilities of the components.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from packageurl import PackageURL

from medsentry.vuln.model import Component, Sbom

NTIA_ELEMENTS = (
    ("supplier_name", "Supplier name"),
    ("component_name", "Component name"),
    ("component_version", "Version of the component"),
    ("unique_identifiers", "Other unique identifiers"),
    ("dependency_relationships", "Dependency relationship"),
    ("author", "Author of SBOM data"),
    ("timestamp", "Timestamp"),
)
FDA_ELEMENTS = (
    ("support_level", "Level of support per component"),
    ("end_of_support", "End-of-support date per component"),
    ("known_vulnerabilities", "Known vulnerabilities assessed"),
)

_CPE23 = re.compile(r"^cpe:2\.3:[aho\*\-](:(?:[^:\\]|\\.)*){10}$")
_CPE22 = re.compile(r"^cpe:/[aho]?(:[^:]*){0,6}$", re.IGNORECASE)
_DATE = re.compile(r"\b(\d{4})-(\d{2})(?:-(\d{2}))?\b")


@dataclass
class Check:
    id: str
    title: str
    passed: bool | None  # None: could not be assessed
    missing: list[str] = field(default_factory=list)  # component names (or refs) lacking it
    detail: str = ""


@dataclass
class Flaw:
    code: str
    severity: str  # error | warning | info
    message: str
    component: str | None = None


@dataclass
class QualityReport:
    source: str | None
    format: str
    components: int
    ntia: list[Check] = field(default_factory=list)
    fda: list[Check] = field(default_factory=list)
    flaws: list[Flaw] = field(default_factory=list)

    @property
    def ntia_conformant(self) -> bool:
        return all(c.passed for c in self.ntia)

    def missing_ntia(self) -> set[str]:
        return {c.id for c in self.ntia if not c.passed}

    def flaw_codes(self) -> Counter[str]:
        return Counter(f.code for f in self.flaws)

    def to_dict(self) -> dict[str, Any]:
        def check(c: Check) -> dict[str, Any]:
            return {
                "id": c.id,
                "title": c.title,
                "passed": c.passed,
                "missing": c.missing[:50],
                "missing_count": len(c.missing),
                "detail": c.detail,
            }

        return {
            "source": self.source,
            "format": self.format,
            "components": self.components,
            "ntia_conformant": self.ntia_conformant,
            "ntia": [check(c) for c in self.ntia],
            "fda": [check(c) for c in self.fda],
            "flaws": [
                {
                    "code": f.code,
                    "severity": f.severity,
                    "message": f.message,
                    "component": f.component,
                }
                for f in self.flaws
            ],
            "flaw_counts": dict(self.flaw_codes()),
        }


def _label(c: Component) -> str:
    return f"{c.name} {c.version}" if c.version else (c.name or c.ref or "(unnamed)")


def assess(
    sbom: Sbom,
    *,
    relationships: int | None = None,
    schema_errors: list[str] | None = None,
    known_vulnerabilities: dict[str, list[str]] | None = None,
    today: datetime | None = None,
) -> QualityReport:
    """Grade an SBOM.

    ``relationships`` is the number of relationships the document declares (SPDX counts its
    DESCRIBES/CONTAINS too); when None the dependency graph of ``sbom`` is used.
    ``known_vulnerabilities`` maps component refs to vulnerability ids found for them (from
    matching); without it, only vulnerabilities embedded in the SBOM count.
    """
    everything = ([sbom.primary] if sbom.primary else []) + list(sbom.components)
    report = QualityReport(sbom.source_path, sbom.format, len(sbom.components))
    report.ntia = _ntia(sbom, everything, relationships)
    # FDA's support fields describe the parts of the product, not the product itself.
    report.fda = _fda(sbom, list(sbom.components), known_vulnerabilities)
    for message in schema_errors or ():
        report.flaws.append(Flaw("schema", "error", message))
    now = today or datetime.now(UTC)
    seen: Counter[str] = Counter(c.ref for c in everything if c.ref)
    for ref, n in seen.items():
        if n > 1:
            report.flaws.append(
                Flaw("duplicate_ref", "error", f"identifier {ref!r} used {n} times")
            )
    for c in sbom.components:
        report.flaws.extend(component_flaws(c, now))
    return report


def _all(components: list[Component], has: Any) -> list[str]:
    return [_label(c) for c in components if not has(c)]


def _ntia(sbom: Sbom, comps: list[Component], relationships: int | None) -> list[Check]:
    checks: dict[str, Check] = {}
    titles = dict(NTIA_ELEMENTS)

    def add(key: str, missing: list[str], passed: bool | None = None, detail: str = "") -> None:
        ok = (not missing) if passed is None else passed
        checks[key] = Check(key, titles[key], ok, missing, detail)

    add("supplier_name", _all(comps, lambda c: bool(c.supplier or c.author)))
    nameless = _all(comps, lambda c: bool(c.name and c.name.strip()))
    add(
        "component_name",
        nameless,
        passed=bool(comps) and not nameless,
        detail="" if comps else "the SBOM lists no components",
    )
    add("component_version", _all(comps, lambda c: bool(c.version)))
    if sbom.format == "spdx":
        # Every SPDX package must carry its SPDXID; purl/CPE come on top.
        add("unique_identifiers", _all(comps, lambda c: bool(c.ref)))
    else:
        add("unique_identifiers", _all(comps, lambda c: bool(c.ref or c.purl or c.cpes)))
    count = (
        relationships
        if relationships is not None
        else sum(len(d.depends_on) for d in sbom.dependencies)
    )
    add("dependency_relationships", [], passed=count > 0, detail=f"{count} relationships declared")
    add(
        "author",
        [],
        passed=bool(sbom.authors or sbom.tools),
        detail=", ".join(sbom.authors or sbom.tools),
    )
    add(
        "timestamp",
        [],
        passed=sbom.timestamp is not None,
        detail=sbom.timestamp.isoformat() if sbom.timestamp else "",
    )
    return [checks[key] for key, _ in NTIA_ELEMENTS]


def _fda(sbom: Sbom, comps: list[Component], known: dict[str, list[str]] | None) -> list[Check]:
    titles = dict(FDA_ELEMENTS)
    out = [
        Check("support_level", titles["support_level"], None, []),
        Check("end_of_support", titles["end_of_support"], None, []),
    ]
    out[0].missing = _all(comps, lambda c: bool(c.support_level))
    out[0].passed = not out[0].missing
    out[1].missing = _all(comps, lambda c: bool(c.end_of_support))
    out[1].passed = not out[1].missing
    undated = [_label(c) for c in comps if c.end_of_support and not _DATE.search(c.end_of_support)]
    if undated:
        out[1].detail = f"{len(undated)} components give no date, only a statement"
    embedded = len(sbom.vulnerabilities)
    if known is not None:
        hits = sum(1 for refs in known.values() if refs)
        out.append(
            Check(
                "known_vulnerabilities",
                titles["known_vulnerabilities"],
                True,
                [],
                f"{hits} components with known vulnerabilities after matching; "
                f"{embedded} statements embedded in the SBOM",
            )
        )
    else:
        detail = (
            f"{embedded} vulnerability statements embedded in the SBOM"
            if embedded
            else "not assessed: match the SBOM against advisories"
        )
        out.append(
            Check(
                "known_vulnerabilities",
                titles["known_vulnerabilities"],
                True if embedded else None,
                [],
                detail,
            )
        )
    return out


# --------------------------------------------------------------------------- per component


def _norm_version(text: str) -> str:
    """Loose form for comparing a CPE's version with the component's: ``v1.0`` ~ ``1.0``."""
    t = text.strip().lower().replace("\\", "")
    t = re.sub(r"^(v|r|rel|release|version)[-_.]?(?=\d)", "", t)
    return t


def _cpe_version(cpe: str) -> str | None:
    if cpe.startswith("cpe:2.3:"):
        parts = re.split(r"(?<!\\):", cpe)
        return parts[5] if len(parts) > 5 else None
    if cpe.lower().startswith("cpe:/"):
        parts = cpe[5:].split(":")
        return parts[3] if len(parts) > 3 else None
    return None


def component_flaws(c: Component, now: datetime) -> list[Flaw]:
    label = _label(c)
    flaws: list[Flaw] = []
    if c.purl:
        try:
            purl = PackageURL.from_string(c.purl)
        except ValueError as exc:
            flaws.append(
                Flaw("invalid_purl", "error", f"purl {c.purl!r} is malformed: {exc}", label)
            )
        else:
            if not purl.version:
                flaws.append(
                    Flaw(
                        "purl_without_version",
                        "warning",
                        f"purl {c.purl} has no version, so purl matching cannot check affected "
                        f"ranges" + (f" (component version is {c.version})" if c.version else ""),
                        label,
                    )
                )
            elif c.version and _norm_version(purl.version) != _norm_version(c.version):
                flaws.append(
                    Flaw(
                        "purl_version_mismatch",
                        "warning",
                        f"purl version {purl.version} disagrees with component version {c.version}",
                        label,
                    )
                )
    for cpe in c.cpes:
        if not (_CPE23.match(cpe) or _CPE22.match(cpe)):
            flaws.append(Flaw("invalid_cpe", "error", f"CPE {cpe!r} is malformed", label))
            continue
        version = _cpe_version(cpe)
        if version in (None, "*", "-", ""):
            if c.version:
                flaws.append(
                    Flaw(
                        "cpe_without_version",
                        "info",
                        f"CPE {cpe} has no version although the component is {c.version}",
                        label,
                    )
                )
        elif c.version and _norm_version(version) != _norm_version(c.version):
            flaws.append(
                Flaw(
                    "cpe_version_mismatch",
                    "warning",
                    f"CPE version {version} disagrees with component version {c.version}",
                    label,
                )
            )
        elif not c.version:
            flaws.append(
                Flaw(
                    "cpe_version_only",
                    "info",
                    f"only the CPE gives a version ({version})",
                    label,
                )
            )
    if c.end_of_support:
        m = _DATE.search(c.end_of_support)
        if m:
            end = datetime(int(m.group(1)), int(m.group(2)), int(m.group(3) or 1), tzinfo=UTC)
            if end < now:
                flaws.append(
                    Flaw(
                        "end_of_support_passed",
                        "warning",
                        f"support ended {m.group(0)}",
                        label,
                    )
                )
    if not c.purl and not c.cpes:
        flaws.append(
            Flaw(
                "no_package_identifier",
                "warning",
                "neither purl nor CPE: only name matching (lower confidence) can find advisories",
                label,
            )
        )
    return flaws
