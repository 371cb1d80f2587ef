"""Read any supported SBOM file, whatever its format, and grade it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medsentry.vuln.io import DocumentError, parse_json, read_bytes
from medsentry.vuln.model import Sbom
from medsentry.vuln.sbom import cyclonedx, spdx
from medsentry.vuln.sbom.quality import QualityReport, assess


@dataclass
class LoadedSbom:
    sbom: Sbom
    sha256: str
    schema_errors: list[str] = field(default_factory=list)
    relationships: int | None = None
    raw: dict[str, Any] | None = None  # the JSON document, when it is JSON

    def quality(self, known: dict[str, list[str]] | None = None) -> QualityReport:
        return assess(
            self.sbom,
            relationships=self.relationships,
            schema_errors=self.schema_errors,
            known_vulnerabilities=known,
        )


def parse_sbom(data: bytes, source: str) -> LoadedSbom:
    sha = hashlib.sha256(data).hexdigest()
    head = data.lstrip()[:1]
    if head == b"<":
        cdx = cyclonedx.parse_cyclonedx(data, source)
        return LoadedSbom(cdx.sbom, sha, cdx.schema_errors)
    if head == b"{":
        doc = parse_json(data, source)
        if cyclonedx.looks_like_cyclonedx_json(doc):
            cdx = cyclonedx.parse_cyclonedx(data, source)
            return LoadedSbom(cdx.sbom, sha, cdx.schema_errors, None, cdx.raw)
        if spdx.looks_like_spdx_json(doc):
            res = spdx.parse_spdx(data, source)
            return LoadedSbom(res.sbom, sha, res.parse_errors, res.relationships, doc)
        raise DocumentError(
            source, "JSON but neither CycloneDX (bomFormat) nor SPDX 2.x (spdxVersion)"
        )
    text = data[:4096].decode("utf-8", errors="replace")
    if spdx.looks_like_spdx_tag_value(text):
        res = spdx.parse_spdx(data, source)
        return LoadedSbom(res.sbom, sha, res.parse_errors, res.relationships)
    raise DocumentError(
        source, "not a recognised SBOM (CycloneDX JSON/XML or SPDX JSON/tag-value expected)"
    )


def load_sbom(path: Path | str) -> LoadedSbom:
    return parse_sbom(read_bytes(path), str(path))
