"""Normalised records shared by the SBOM readers, advisory importers, matching and findings.

Every importer turns its format into these frozen dataclasses; matching and scoring read only
these, never the source formats. Collections are tuples so records are hashable and safe to
share between threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ProductStatus(StrEnum):
    """What an advisory says about one product (the CSAF ``product_status`` groups, condensed).

    CSAF's ``first_affected``/``last_affected`` fold into ``known_affected``; ``first_fixed``
    folds into ``fixed``; ``recommended`` is kept apart because it means "use this one".
    """

    KNOWN_AFFECTED = "known_affected"
    FIXED = "fixed"
    KNOWN_NOT_AFFECTED = "known_not_affected"
    UNDER_INVESTIGATION = "under_investigation"
    RECOMMENDED = "recommended"


class FindingState(StrEnum):
    """Triage state of a finding (a VEX status plus our own ``false_positive``)."""

    AFFECTED = "affected"
    NOT_AFFECTED = "not_affected"
    FIXED = "fixed"
    UNDER_INVESTIGATION = "under_investigation"
    FALSE_POSITIVE = "false_positive"


class Justification(StrEnum):
    """Why a product is not affected; the CSAF VEX flag labels (OpenVEX uses the same words)."""

    COMPONENT_NOT_PRESENT = "component_not_present"
    VULNERABLE_CODE_NOT_PRESENT = "vulnerable_code_not_present"
    VULNERABLE_CODE_NOT_IN_EXECUTE_PATH = "vulnerable_code_not_in_execute_path"
    VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY = (
        "vulnerable_code_cannot_be_controlled_by_adversary"
    )
    INLINE_MITIGATIONS_ALREADY_EXIST = "inline_mitigations_already_exist"


class MatchMethod(StrEnum):
    """How a component was tied to an affected product; drives the default confidence."""

    PURL = "purl"
    CPE = "cpe"
    VENDOR_PRODUCT = "vendor_product"  # normalised names + tolerant version text (ICSMA)
    KEV_NAME = "kev_name"  # CISA KEV vendor/product names, no version known: a lead only


# --------------------------------------------------------------------------- SBOM side


@dataclass(frozen=True, slots=True)
class Hash:
    alg: str  # as the SBOM spells it, e.g. "SHA-256"
    value: str


@dataclass(frozen=True, slots=True)
class Component:
    """One SBOM component. ``ref`` is unique within its SBOM (bom-ref / SPDXID)."""

    ref: str
    name: str
    version: str | None = None
    purl: str | None = None
    cpes: tuple[str, ...] = ()
    supplier: str | None = None
    author: str | None = None
    group: str | None = None
    type: str | None = None  # library, firmware, operating-system, device, ...
    description: str | None = None
    hashes: tuple[Hash, ...] = ()
    licenses: tuple[str, ...] = ()
    # FDA premarket additions; free text when the SBOM gives free text ("Open source").
    support_level: str | None = None
    end_of_support: str | None = None
    properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Dependency:
    ref: str
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VexStatement:
    """One status claim about a vulnerability in a product or component.

    ``product`` is whatever the source identifies the subject by: a purl, a CPE, a bom-ref
    or a CSAF product id (``product_kind`` says which).
    """

    vuln_id: str
    product: str
    product_kind: str  # "purl" | "cpe" | "bom-ref" | "csaf_product_id" | "name"
    state: FindingState
    justification: Justification | None = None
    detail: str | None = None  # impact statement / analysis detail
    response: tuple[str, ...] = ()  # CycloneDX responses or CSAF remediation categories
    action: str | None = None  # action statement for affected
    timestamp: datetime | None = None
    source: str | None = None  # document id / file the statement came from
    # The source format's own words, kept so a re-export says exactly what was imported
    # (CycloneDX has finer states and justifications than CSAF/OpenVEX).
    native_state: str | None = None
    native_justification: str | None = None
    # (version or vers range, status) pairs when the statement covers only some versions.
    versions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Sbom:
    format: str  # "cyclonedx" | "spdx"
    spec_version: str  # "1.4", "SPDX-2.3", ...
    serial: str | None  # CycloneDX serialNumber / SPDX documentNamespace
    name: str | None
    version: str | None
    timestamp: datetime | None
    authors: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    primary: Component | None = None  # the product the SBOM describes (device/application)
    components: tuple[Component, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    vulnerabilities: tuple[VexStatement, ...] = ()  # embedded VDR/VEX entries, if any
    source_path: str | None = None

    def component(self, ref: str) -> Component | None:
        for comp in self.components:
            if comp.ref == ref:
                return comp
        return self.primary if self.primary and self.primary.ref == ref else None


# --------------------------------------------------------------------------- advisory side


@dataclass(frozen=True, slots=True)
class Score:
    """A CVSS vector as published. ``version`` is "2.0", "3.0", "3.1" or "4.0"."""

    version: str
    vector: str
    base_score: float | None = None
    severity: str | None = None
    source: str | None = None  # who scored it (advisory, NVD, CNA ...)
    cve: str | None = None
    product_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reference:
    url: str
    summary: str | None = None
    category: str | None = None  # "self" | "external" | OSV/NVD tag


@dataclass(frozen=True, slots=True)
class Remediation:
    category: str  # vendor_fix, mitigation, workaround, none_available, no_fix_planned
    details: str
    product_ids: tuple[str, ...] = ()
    url: str | None = None
    date: datetime | None = None
    cve: str | None = None


@dataclass(frozen=True, slots=True)
class Note:
    category: str
    text: str
    title: str | None = None


@dataclass(frozen=True, slots=True)
class AffectedProduct:
    """One product an advisory speaks about, with what it says about it.

    Identification, strongest first: ``purl`` (with ``vers`` a vers-spec range string such as
    ``vers:npm/>=1.0.0|<1.2.3``), ``cpe`` (a CPE 2.3 string; a version range, when the source
    gives one, is also in ``vers``, using the ``generic`` scheme), else ``vendor`` /
    ``product`` / ``version_text`` as the advisory wrote them ("06.08.00.00 and prior").
    ``cves`` are the vulnerabilities this status applies to; a product with different
    statuses for different CVEs appears once per status.
    """

    product_id: str
    vendor: str | None = None
    product: str | None = None
    version_text: str | None = None
    purl: str | None = None
    cpe: str | None = None
    vers: str | None = None
    status: ProductStatus = ProductStatus.KNOWN_AFFECTED
    cves: tuple[str, ...] = ()
    full_name: str | None = None  # CSAF full_product_name.name
    remediation: str | None = None  # short text: first vendor_fix / mitigation for it


@dataclass(frozen=True, slots=True)
class Vulnerability:
    """One vulnerability entry inside an advisory (a CVE or a source-specific id)."""

    id: str  # CVE id when there is one, else the source id
    title: str | None = None
    cwe: str | None = None
    description: str | None = None
    scores: tuple[Score, ...] = ()
    remediations: tuple[Remediation, ...] = ()
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Advisory:
    """A security advisory (CSAF document, OSV entry, CVE record, NVD item) normalised.

    ``id`` + ``source`` is the identity; ``revision`` orders updates of the same advisory.
    """

    id: str
    source: str  # "csaf", "osv", "cve5", "nvd"
    title: str | None = None
    revision: str | None = None
    published: datetime | None = None
    modified: datetime | None = None
    publisher: str | None = None
    category: str | None = None  # csaf_security_advisory, csaf_vex, ...
    cves: tuple[str, ...] = ()
    scores: tuple[Score, ...] = ()
    references: tuple[Reference, ...] = ()
    remediations: tuple[Remediation, ...] = ()
    notes: tuple[Note, ...] = ()
    products: tuple[AffectedProduct, ...] = ()
    vulnerabilities: tuple[Vulnerability, ...] = ()
    source_path: str | None = None


# --------------------------------------------------------------------------- matching result


@dataclass(frozen=True, slots=True)
class Match:
    """A component found to be (possibly) concerned by an affected product.

    ``reason`` is one human sentence ("purl pkg:npm/lodash@4.17.15 in vers:npm/<4.17.21");
    ``confidence`` is 0..1 (vendor/product text matches stay below purl/CPE matches).
    """

    component_ref: str
    product: AffectedProduct
    method: MatchMethod
    reason: str
    confidence: float
    details: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
