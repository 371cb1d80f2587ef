"""CycloneDX SBOM of a firmware scan, with purls, CPEs and identification evidence."""

from __future__ import annotations

from decimal import Decimal

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component as CdxComponent
from cyclonedx.model.component import ComponentType
from cyclonedx.model.component_evidence import (
    AnalysisTechnique,
    ComponentEvidence,
    Identity,
    IdentityField,
    Method,
    Occurrence,
)
from cyclonedx.model.contact import OrganizationalEntity
from cyclonedx.output.json import JsonV1Dot5, JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from medsentry import __version__
from medsentry.protect.components import Component
from medsentry.protect.errors import ProtectError
from medsentry.protect.scan import ScanReport

_TYPES = {
    "library": ComponentType.LIBRARY,
    "application": ComponentType.APPLICATION,
    "operating-system": ComponentType.OPERATING_SYSTEM,
    "firmware": ComponentType.FIRMWARE,
}
_TECHNIQUES = {
    "binary-analysis": AnalysisTechnique.BINARY_ANALYSIS,
    "manifest-analysis": AnalysisTechnique.MANIFEST_ANALYSIS,
    "filename": AnalysisTechnique.FILENAME,
}
_MAX_OCCURRENCES = 50
_OUTPUTS = {"1.5": (JsonV1Dot5, SchemaVersion.V1_5), "1.6": (JsonV1Dot6, SchemaVersion.V1_6)}


def build_bom(report: ScanReport) -> Bom:
    """A CycloneDX document: the scanned image as the subject, found components inside it."""
    bom = Bom()
    subject = CdxComponent(
        name=report.target,
        type=ComponentType.FIRMWARE,
        bom_ref="subject",
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=report.target_sha256)]
        if report.target_sha256
        else None,
    )
    bom.metadata.component = subject
    bom.metadata.tools.components.add(
        CdxComponent(name="medsentry", version=__version__, type=ComponentType.APPLICATION)
    )
    used_refs: set[str] = set()
    for component in report.components:
        cdx = _component(component, used_refs)
        bom.components.add(cdx)
        bom.register_dependency(subject, [cdx])
    return bom


def _component(component: Component, used_refs: set[str]) -> CdxComponent:
    ref = component.purl or f"{component.name}@{component.version or 'unknown'}"
    while ref in used_refs:
        ref += "+"
    used_refs.add(ref)
    properties = [Property(name=k, value=v) for k, v in sorted(component.properties.items())]
    properties.append(Property(name="medsentry:confidence", value=f"{component.confidence:.3f}"))
    return CdxComponent(
        name=component.name,
        version=component.version,
        type=_TYPES.get(component.type, ComponentType.LIBRARY),
        bom_ref=ref,
        supplier=OrganizationalEntity(name=component.supplier) if component.supplier else None,
        description=component.description or None,
        purl=PackageURL.from_string(component.purl) if component.purl else None,
        cpe=component.cpe,
        properties=properties,
        evidence=_evidence(component),
    )


def _evidence(component: Component) -> ComponentEvidence:
    methods = []
    seen: set[tuple[str, str]] = set()
    for item in component.evidence:
        key = (item.technique, item.text)
        if key in seen:
            continue
        seen.add(key)
        methods.append(
            Method(
                technique=_TECHNIQUES[item.technique],
                confidence=Decimal(str(round(item.confidence, 3))),
                value=item.text,
            )
        )
    identity = Identity(
        field=IdentityField.VERSION if component.version else IdentityField.NAME,
        confidence=Decimal(str(component.confidence)),
        methods=methods,
    )
    occurrences = [
        Occurrence(location=location) for location in component.locations[:_MAX_OCCURRENCES]
    ]
    return ComponentEvidence(identity=[identity], occurrences=occurrences)


def bom_json(report: ScanReport, spec_version: str = "1.6") -> str:
    """The SBOM as CycloneDX JSON, checked against the official schema before it is returned."""
    if spec_version not in _OUTPUTS:
        raise ProtectError(f"CycloneDX {spec_version} is not supported; use 1.5 or 1.6")
    writer, schema = _OUTPUTS[spec_version]
    text = writer(build_bom(report)).output_as_string(indent=2)
    error = JsonStrictValidator(schema).validate_str(text)
    if error is not None:
        raise ProtectError(
            f"generated SBOM does not validate against CycloneDX {spec_version}: {error}"
        )
    return text
