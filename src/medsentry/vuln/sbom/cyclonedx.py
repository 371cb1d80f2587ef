"""CycloneDX 1.2–1.6 SBOMs (JSON or XML) → ``Sbom``, through cyclonedx-python-lib.

XML is parsed with defusedxml first (no DTDs, no entity expansion) and the safe tree handed
to the library. The library's own schema validators check the document; their complaints go
into ``schema_errors`` for the quality report, and the import is refused only when the
library cannot read the document at all.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

from medsentry.vuln.io import DocumentError, parse_datetime, parse_json, parse_xml
from medsentry.vuln.model import Component, Dependency, Hash, Sbom

_XML_NS = re.compile(r"^\{http://cyclonedx\.org/schema/bom/(1\.[0-9])\}bom$")
SUPPORTED = ("1.2", "1.3", "1.4", "1.5", "1.6")

# Property names producers use for the FDA's "level of support" and "end of support".
_SUPPORT_LEVEL = {"levelofsupport", "supportlevel", "support", "supportstatus"}
_END_OF_SUPPORT = {
    "endofsupport",
    "endofsupportdate",
    "eos",
    "eosdate",
    "endoflife",
    "eol",
    "eoldate",
    "supportenddate",
    "supportend",
    "endoflifedate",
}


@dataclass
class CycloneDxResult:
    sbom: Sbom
    raw: dict[str, Any] | None  # the JSON document, for VEX statements and quality checks
    schema_errors: list[str] = field(default_factory=list)


def _prop_key(name: str) -> str:
    tail = name.rsplit(":", 1)[-1]
    return re.sub(r"[^a-z0-9]", "", tail.lower())


def looks_like_cyclonedx_json(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("bomFormat") == "CycloneDX"


def parse_cyclonedx(data: bytes, source: str) -> CycloneDxResult:
    head = data.lstrip()[:1]
    if head == b"<":
        return _parse_xml(data, source)
    doc = parse_json(data, source)
    if not looks_like_cyclonedx_json(doc):
        raise DocumentError(source, 'not a CycloneDX JSON document (no "bomFormat": "CycloneDX")')
    return _parse_json(doc, data, source)


def _schema_version(version: str) -> Any:
    from cyclonedx.schema import SchemaVersion

    return SchemaVersion.from_version(version)


def _parse_json(doc: dict[str, Any], data: bytes, source: str) -> CycloneDxResult:
    from cyclonedx.model.bom import Bom
    from cyclonedx.validation.json import JsonStrictValidator

    version = str(doc.get("specVersion") or "")
    if version not in SUPPORTED:
        raise DocumentError(
            source, f"CycloneDX specVersion {version!r} is not supported (use 1.2 to 1.6)"
        )
    schema_errors: list[str] = []
    error = JsonStrictValidator(_schema_version(version)).validate_str(data.decode("utf-8"))
    if error is not None:
        schema_errors.append(str(error)[:300])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bom = Bom.from_json(doc)  # type: ignore[attr-defined]
    except Exception as exc:  # the library raises many unrelated types on bad input
        # Real SBOMs carry the odd malformed purl or empty enum; one bad field should not
        # hide the other components. Read the JSON directly and report the problem instead.
        schema_errors.append(f"cyclonedx-python-lib refused it: {type(exc).__name__}: {exc}"[:300])
        return CycloneDxResult(_tolerant_json(doc, version, source), doc, schema_errors)
    return CycloneDxResult(_to_sbom(bom, version, source), doc, schema_errors)


def _parse_xml(data: bytes, source: str) -> CycloneDxResult:
    from cyclonedx.model.bom import Bom

    root: Element = parse_xml(data, source)
    m = _XML_NS.match(root.tag)
    if not m:
        raise DocumentError(source, f"XML root {root.tag!r} is not a CycloneDX bom element")
    version = m.group(1)
    if version not in SUPPORTED:
        raise DocumentError(source, f"CycloneDX {version} is not supported (use 1.2 to 1.6)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bom = Bom.from_xml(root)  # type: ignore[attr-defined]
    except Exception as exc:  # the library raises many unrelated types on bad input
        raise DocumentError(
            source, f"CycloneDX {version} XML cannot be read ({type(exc).__name__}: {exc})"
        ) from exc
    return CycloneDxResult(_to_sbom(bom, version, source), None, [])


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _org_name(entity: Any) -> str | None:
    return _text(getattr(entity, "name", None)) if entity is not None else None


def _component(c: Any, fallback_ref: str) -> Component:
    ref = _text(getattr(c.bom_ref, "value", None)) or fallback_ref
    support_level = end_of_support = None
    props: list[tuple[str, str]] = []
    for prop in c.properties or ():
        name, value = str(prop.name), str(prop.value or "")
        props.append((name, value))
        key = _prop_key(name)
        if key in _SUPPORT_LEVEL and support_level is None:
            support_level = value.strip() or None
        elif key in _END_OF_SUPPORT and end_of_support is None:
            end_of_support = value.strip() or None
    authors = [a for a in (_org_name(a) for a in getattr(c, "authors", None) or ()) if a]
    supplier = (
        _org_name(c.supplier) or _org_name(getattr(c, "manufacturer", None)) or _text(c.publisher)
    )
    licenses = []
    for lic in c.licenses or ():
        lic_value = (
            getattr(lic, "id", None) or getattr(lic, "name", None) or getattr(lic, "value", None)
        )
        if lic_value:
            licenses.append(str(lic_value))
    return Component(
        ref=ref,
        name=str(c.name),
        version=_text(c.version),
        purl=c.purl.to_string() if c.purl is not None else None,
        cpes=(str(c.cpe),) if c.cpe else (),
        supplier=supplier,
        author=_text(c.author) or (authors[0] if authors else None),
        group=_text(c.group),
        type=str(c.type.value) if c.type is not None else None,
        description=_text(c.description),
        hashes=tuple(Hash(str(h.alg.value), str(h.content)) for h in c.hashes or ()),
        licenses=tuple(licenses),
        support_level=support_level,
        end_of_support=end_of_support,
        properties=tuple(props),
    )


def _flatten(components: Any) -> list[Any]:
    out: list[Any] = []
    for c in components or ():
        out.append(c)
        out.extend(_flatten(c.components))
    return out


def _to_sbom(bom: Any, version: str, source: str) -> Sbom:
    meta = bom.metadata
    components = [
        _component(c, f"component-{i}") for i, c in enumerate(_flatten(bom.components), start=1)
    ]
    primary = _component(meta.component, "metadata-component") if meta.component else None
    authors = [a for a in (_org_name(a) for a in meta.authors or ()) if a]
    if primary is not None and not primary.supplier:
        # Many device SBOMs name the maker only as metadata manufacturer/supplier.
        maker = _org_name(meta.supplier) or _org_name(getattr(meta, "manufacture", None))
        maker = maker or _org_name(getattr(meta, "manufacturer", None))
        if maker:
            primary = _replace_supplier(primary, maker)
    tools = []
    for tool in getattr(meta.tools, "tools", None) or ():
        tools.append(" ".join(p for p in (_text(tool.name), _text(tool.version)) if p))
    for svc in getattr(meta.tools, "components", None) or ():
        tools.append(" ".join(p for p in (_text(svc.name), _text(svc.version)) if p))
    deps = [
        Dependency(
            ref=str(d.ref.value),
            depends_on=tuple(str(x.ref.value) for x in d.dependencies or ()),
        )
        for d in bom.dependencies or ()
    ]
    serial = str(bom.serial_number) if getattr(bom, "serial_number", None) else None
    return Sbom(
        format="cyclonedx",
        spec_version=version,
        serial=serial,
        name=primary.name if primary else None,
        version=str(bom.version) if bom.version is not None else None,
        timestamp=parse_datetime(meta.timestamp.isoformat()) if meta.timestamp else None,
        authors=tuple(authors),
        tools=tuple(t for t in tools if t),
        primary=primary,
        components=tuple(components),
        dependencies=tuple(deps),
        source_path=source,
    )


def _replace_supplier(component: Component, supplier: str) -> Component:
    from dataclasses import replace

    return replace(component, supplier=supplier)


# --------------------------------------------------------------------------- tolerant reader


def _tolerant_component(c: dict[str, Any], fallback_ref: str) -> Component:
    props = tuple(
        (str(p.get("name", "")), str(p.get("value", "")))
        for p in c.get("properties") or ()
        if isinstance(p, dict)
    )
    support_level = next((v for n, v in props if _prop_key(n) in _SUPPORT_LEVEL), None)
    end_of_support = next((v for n, v in props if _prop_key(n) in _END_OF_SUPPORT), None)
    supplier: dict[str, Any] = c["supplier"] if isinstance(c.get("supplier"), dict) else {}
    manufacturer: dict[str, Any] = (
        c["manufacturer"] if isinstance(c.get("manufacturer"), dict) else {}
    )
    licenses = []
    for entry in c.get("licenses") or ():
        lic = entry.get("license") if isinstance(entry, dict) else None
        value = (lic or {}).get("id") or (lic or {}).get("name") or (entry or {}).get("expression")
        if value:
            licenses.append(str(value))
    return Component(
        ref=_text(c.get("bom-ref")) or fallback_ref,
        name=str(c.get("name") or ""),
        version=_text(c.get("version")),
        purl=_text(c.get("purl")),
        cpes=(str(c["cpe"]),) if c.get("cpe") else (),
        supplier=_text(supplier.get("name"))
        or _text(manufacturer.get("name"))
        or _text(c.get("publisher")),
        author=_text(c.get("author")),
        group=_text(c.get("group")),
        type=_text(c.get("type")),
        description=_text(c.get("description")),
        hashes=tuple(
            Hash(str(h.get("alg")), str(h.get("content")))
            for h in c.get("hashes") or ()
            if isinstance(h, dict)
        ),
        licenses=tuple(licenses),
        support_level=support_level,
        end_of_support=end_of_support,
        properties=props,
    )


def _tolerant_flatten(components: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in components or ():
        if isinstance(c, dict):
            out.append(c)
            out.extend(_tolerant_flatten(c.get("components")))
    return out


def _tolerant_json(doc: dict[str, Any], version: str, source: str) -> Sbom:
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    flat = _tolerant_flatten(doc.get("components"))
    primary_doc = meta.get("component")
    return Sbom(
        format="cyclonedx",
        spec_version=version,
        serial=_text(doc.get("serialNumber")),
        name=_text(primary_doc.get("name")) if isinstance(primary_doc, dict) else None,
        version=_text(doc.get("version")),
        timestamp=parse_datetime(meta.get("timestamp")),
        authors=tuple(str(a.get("name")) for a in meta.get("authors") or () if isinstance(a, dict)),
        primary=_tolerant_component(primary_doc, "metadata-component")
        if isinstance(primary_doc, dict)
        else None,
        components=tuple(
            _tolerant_component(c, f"component-{i}") for i, c in enumerate(flat, start=1)
        ),
        dependencies=tuple(
            Dependency(str(d.get("ref")), tuple(str(x) for x in d.get("dependsOn") or ()))
            for d in doc.get("dependencies") or ()
            if isinstance(d, dict) and d.get("ref")
        ),
        source_path=source,
    )
