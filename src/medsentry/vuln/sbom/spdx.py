"""SPDX 2.2/2.3 SBOMs (JSON or tag-value) → ``Sbom``, through spdx-tools.

spdx-tools refuses a document as soon as a required field is missing or malformed — exactly
the documents a quality check must still be able to describe. When it refuses, its messages
are kept as ``parse_errors`` and a tolerant reader takes the fields that are there, leaving
missing ones empty, so the quality report can say what is missing instead of failing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from medsentry.vuln.io import DocumentError, as_list, parse_datetime, parse_json
from medsentry.vuln.model import Component, Dependency, Hash, Sbom

NOASSERTION = {"NOASSERTION", "NONE", ""}

# Relationship types meaning "A includes or needs B", and their inverses ("B ... of A").
_FORWARD = {
    "CONTAINS",
    "DEPENDS_ON",
    "DYNAMIC_LINK",
    "STATIC_LINK",
    "HAS_PREREQUISITE",
}
_INVERSE = {
    "CONTAINED_BY",
    "DEPENDENCY_OF",
    "BUILD_DEPENDENCY_OF",
    "DEV_DEPENDENCY_OF",
    "OPTIONAL_DEPENDENCY_OF",
    "PROVIDED_DEPENDENCY_OF",
    "RUNTIME_DEPENDENCY_OF",
    "TEST_DEPENDENCY_OF",
    "PREREQUISITE_FOR",
}


@dataclass
class SpdxResult:
    sbom: Sbom
    parse_errors: list[str] = field(default_factory=list)
    relationships: int = 0  # all relationships, including DESCRIBES


@dataclass
class _Pkg:
    spdx_id: str = ""
    name: str = ""
    version: str | None = None
    supplier: str | None = None
    originator: str | None = None
    checksums: list[tuple[str, str]] = field(default_factory=list)
    refs: list[tuple[str, str]] = field(default_factory=list)  # (type, locator)
    licenses: list[str] = field(default_factory=list)
    purpose: str | None = None


@dataclass
class _Doc:
    version: str = ""
    name: str | None = None
    namespace: str | None = None
    created: str | None = None
    creators: list[str] = field(default_factory=list)
    packages: list[_Pkg] = field(default_factory=list)
    relationships: list[tuple[str, str, str]] = field(default_factory=list)
    describes: list[str] = field(default_factory=list)


def looks_like_spdx_json(doc: Any) -> bool:
    return isinstance(doc, dict) and str(doc.get("spdxVersion", "")).startswith("SPDX-")


def looks_like_spdx_tag_value(text: str) -> bool:
    return bool(re.search(r"^SPDXVersion:\s*SPDX-", text, re.MULTILINE))


def parse_spdx(data: bytes, source: str) -> SpdxResult:
    head = data.lstrip()[:1]
    if head == b"{":
        doc = parse_json(data, source)
        if not looks_like_spdx_json(doc):
            raise DocumentError(source, 'not an SPDX JSON document (no "spdxVersion")')
        _check_version(str(doc.get("spdxVersion")), source)
        return _from_library(lambda: _library_json(doc), lambda: _tolerant_json(doc), source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(source, "SPDX tag-value files must be UTF-8 text") from exc
    if not looks_like_spdx_tag_value(text):
        raise DocumentError(source, "not an SPDX document (no SPDXVersion line)")
    m = re.search(r"^SPDXVersion:\s*(\S+)", text, re.MULTILINE)
    _check_version(m.group(1) if m else "", source)
    return _from_library(
        lambda: _library_tag_value(text), lambda: _tolerant_tag_value(text), source
    )


def _check_version(version: str, source: str) -> None:
    # 2.1 documents are read by the tolerant reader when spdx-tools declines them.
    if version not in ("SPDX-2.1", "SPDX-2.2", "SPDX-2.3"):
        raise DocumentError(
            source,
            f"{version or 'unknown SPDX version'} is not supported "
            "(SPDX 2.1 to 2.3 are read; SPDX 3 is not yet)",
        )


def _from_library(library: Any, tolerant: Any, source: str) -> SpdxResult:
    from spdx_tools.spdx.parser.error import SPDXParsingError

    errors: list[str] = []
    try:
        doc = library()
    except SPDXParsingError as exc:
        errors = [str(m)[:300] for m in exc.get_messages()]
        doc = tolerant()
    return _to_sbom(doc, errors, source)


# --------------------------------------------------------------------------- spdx-tools


def _actor(value: Any) -> str | None:
    """An spdx-tools Actor (or NOASSERTION / None) → the name, or None."""
    name = getattr(value, "name", None)
    if name is None:
        return None
    text = str(name).strip()
    return None if text.upper() in NOASSERTION else text


def _library_json(doc: dict[str, Any]) -> _Doc:
    from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser

    return _from_model(JsonLikeDictParser().parse(doc))


@lru_cache(maxsize=1)
def _tag_value_parser() -> Any:
    # Building the tag-value grammar tables takes about two seconds: do it once per process.
    # spdx-tools also rebuilds the whole SPDX licence index for every licence field it reads
    # (~0.1 s each, 30 s for a Zephyr SBOM); one shared index gives the same results.
    from license_expression import get_spdx_licensing
    from spdx_tools.spdx.parser.tagvalue import parser as tag_value_module

    shared = get_spdx_licensing()
    tag_value_module.get_spdx_licensing = lambda: shared  # type: ignore[assignment]
    return tag_value_module.Parser()


def _library_tag_value(text: str) -> _Doc:
    import re as _re

    from spdx_tools.spdx.parser.logger import Logger
    from spdx_tools.spdx.parser.tagvalue.lexer import SPDXLexer

    parser = _tag_value_parser()
    # The parser keeps per-document state; reset it so the costly grammar tables are reused.
    parser.logger = Logger()
    parser.current_element = {"logger": Logger()}
    parser.creation_info = {"logger": Logger()}
    parser.elements_built = {}
    parser.lex = SPDXLexer()
    parser.lex.build(reflags=_re.UNICODE)
    return _from_model(parser.parse(text))


def _from_model(document: Any) -> _Doc:
    info = document.creation_info
    out = _Doc(
        version=info.spdx_version,
        name=info.name,
        namespace=info.document_namespace,
        created=info.created.isoformat() if info.created else None,
        creators=[f"{a.actor_type.name.title()}: {a.name}" for a in info.creators],
    )
    for p in document.packages:
        out.packages.append(
            _Pkg(
                spdx_id=p.spdx_id,
                name=p.name,
                version=p.version,
                supplier=_actor(p.supplier),
                originator=_actor(p.originator),
                checksums=[(c.algorithm.name, c.value) for c in p.checksums],
                refs=[(r.reference_type, r.locator) for r in p.external_references],
                licenses=[
                    str(x) for x in (p.license_declared, p.license_concluded) if x is not None
                ],
                purpose=p.primary_package_purpose.name if p.primary_package_purpose else None,
            )
        )
    out.relationships = [
        (r.spdx_element_id, r.relationship_type.name, str(r.related_spdx_element_id))
        for r in document.relationships
    ]
    return out


# --------------------------------------------------------------------------- tolerant readers


def _actor_text(value: Any) -> str | None:
    """``Organization: Name (email)`` → ``Name``; NOASSERTION / empty → None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.upper() in NOASSERTION:
        return None
    _, _, rest = text.partition(":")
    name = re.sub(r"\s*\([^)]*\)\s*$", "", rest if rest else text).strip()
    return name or None


def _tolerant_json(doc: dict[str, Any]) -> _Doc:
    info = doc.get("creationInfo") if isinstance(doc.get("creationInfo"), dict) else {}
    assert isinstance(info, dict)
    out = _Doc(
        version=str(doc.get("spdxVersion", "")),
        name=doc.get("name"),
        namespace=doc.get("documentNamespace"),
        created=info.get("created") or None,
        creators=[str(c) for c in as_list(info.get("creators")) if str(c).strip()],
        describes=[str(d) for d in as_list(doc.get("documentDescribes"))],
    )
    for p in as_list(doc.get("packages")):
        if not isinstance(p, dict):
            continue
        out.packages.append(
            _Pkg(
                spdx_id=str(p.get("SPDXID") or ""),
                name=str(p.get("name") or ""),
                version=p.get("versionInfo"),
                supplier=_actor_text(p.get("supplier")),
                originator=_actor_text(p.get("originator")),
                checksums=[
                    (str(c.get("algorithm")), str(c.get("checksumValue")))
                    for c in as_list(p.get("checksums"))
                    if isinstance(c, dict)
                ],
                refs=[
                    (str(r.get("referenceType")), str(r.get("referenceLocator")))
                    for r in as_list(p.get("externalRefs"))
                    if isinstance(r, dict)
                ],
                licenses=[
                    str(p[k])
                    for k in ("licenseDeclared", "licenseConcluded")
                    if p.get(k) and str(p[k]).upper() not in NOASSERTION
                ],
                purpose=p.get("primaryPackagePurpose"),
            )
        )
    out.relationships = [
        (
            str(r.get("spdxElementId")),
            str(r.get("relationshipType")),
            str(r.get("relatedSpdxElement")),
        )
        for r in as_list(doc.get("relationships"))
        if isinstance(r, dict)
    ]
    return out


_TAG = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*):\s?(.*)$")


def _tag_value_pairs(text: str) -> list[tuple[str, str]]:
    """Tag/value pairs, with ``<text>...</text>`` values spanning lines folded into one."""
    pairs: list[tuple[str, str]] = []
    lines = iter(text.splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _TAG.match(line)
        if not m:
            continue
        tag, value = m.group(1), m.group(2).strip()
        if value.startswith("<text>") and "</text>" not in value:
            parts = [value]
            for more in lines:
                parts.append(more)
                if "</text>" in more:
                    break
            value = "\n".join(parts)
        pairs.append((tag, value.replace("<text>", "").replace("</text>", "").strip()))
    return pairs


def _tolerant_tag_value(text: str) -> _Doc:
    out = _Doc()
    pkg: _Pkg | None = None
    in_package = False
    for tag, value in _tag_value_pairs(text):
        if tag == "PackageName":
            pkg = _Pkg(name=value)
            out.packages.append(pkg)
            in_package = True
            continue
        if tag in ("FileName", "SnippetSPDXID", "LicenseID"):
            in_package = False
        if tag == "Relationship":
            parts = value.split()
            if len(parts) >= 3:
                out.relationships.append((parts[0], parts[1], parts[2]))
            continue
        if in_package and pkg is not None:
            _package_tag(pkg, tag, value)
            continue
        if tag == "SPDXVersion":
            out.version = value
        elif tag == "DocumentName":
            out.name = value
        elif tag == "DocumentNamespace":
            out.namespace = value
        elif tag == "Creator" and value:
            out.creators.append(value)
        elif tag == "Created":
            out.created = value or None
    return out


def _package_tag(pkg: _Pkg, tag: str, value: str) -> None:
    if tag == "SPDXID":
        pkg.spdx_id = value
    elif tag == "PackageVersion":
        pkg.version = value or None
    elif tag == "PackageSupplier":
        pkg.supplier = _actor_text(value)
    elif tag == "PackageOriginator":
        pkg.originator = _actor_text(value)
    elif tag == "PackageChecksum" and ":" in value:
        alg, _, digest = value.partition(":")
        pkg.checksums.append((alg.strip(), digest.strip()))
    elif tag == "ExternalRef":
        parts = value.split()
        if len(parts) >= 3:
            pkg.refs.append((parts[1], parts[2]))
    elif tag in ("PackageLicenseDeclared", "PackageLicenseConcluded"):
        if value.upper() not in NOASSERTION:
            pkg.licenses.append(value)
    elif tag == "PrimaryPackagePurpose":
        pkg.purpose = value


# --------------------------------------------------------------------------- → Sbom


def _to_sbom(doc: _Doc, errors: list[str], source: str) -> SpdxResult:
    described = list(doc.describes) + [
        b for a, kind, b in doc.relationships if kind == "DESCRIBES" and a == "SPDXRef-DOCUMENT"
    ]
    deps: dict[str, list[str]] = {}
    for a, kind, b in doc.relationships:
        if kind in _FORWARD:
            deps.setdefault(a, []).append(b)
        elif kind in _INVERSE:
            deps.setdefault(b, []).append(a)
    components = [_component(p) for p in doc.packages]
    primary = next((c for c in components if c.ref and c.ref in described), None)
    others = tuple(c for c in components if c is not primary)
    return SpdxResult(
        sbom=Sbom(
            format="spdx",
            spec_version=doc.version,
            serial=doc.namespace,
            name=doc.name,
            version=None,
            timestamp=parse_datetime(doc.created),
            authors=tuple(doc.creators),
            tools=tuple(c.split(":", 1)[1].strip() for c in doc.creators if c.startswith("Tool:")),
            primary=primary,
            components=others,
            dependencies=tuple(Dependency(k, tuple(v)) for k, v in deps.items()),
            source_path=source,
        ),
        parse_errors=errors,
        relationships=len(doc.relationships) + len(doc.describes),
    )


def _component(p: _Pkg) -> Component:
    purl = next((loc for kind, loc in p.refs if kind == "purl"), None)
    cpes = tuple(loc for kind, loc in p.refs if kind in ("cpe23Type", "cpe22Type"))
    return Component(
        ref=p.spdx_id,
        name=p.name,
        version=p.version or None,
        purl=purl,
        cpes=cpes,
        supplier=p.supplier or p.originator,
        author=p.originator,
        type=p.purpose.lower().replace("_", "-") if p.purpose else None,
        hashes=tuple(
            Hash(alg.replace("SHA", "SHA-") if re.fullmatch(r"SHA\d+", alg) else alg, v)
            for alg, v in p.checksums
        ),
        licenses=tuple(dict.fromkeys(p.licenses)),
    )
