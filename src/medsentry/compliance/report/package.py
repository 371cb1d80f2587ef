"""Report files in an output folder: the HTML and PDF report, the evidence as JSON, and for
manufacturers an FDA premarket cybersecurity package (SBOM, vulnerability assessment with
KEV and VEX, security metrics, controls-to-risks traceability matrix) ready to attach.
Every folder gets a manifest with the SHA-256 of each file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from medsentry.compliance.observe import Observations
from medsentry.compliance.report.data import ReportData, gather
from medsentry.compliance.report.render import render_html, write_pdf
from medsentry.errors import InputError
from medsentry.store.models.vuln import ComponentRow, FindingRow, SbomRow
from medsentry.vuln.model import FindingState, Justification, VexStatement
from medsentry.vuln.vex import export_cyclonedx_vex

FORMATS = ("html", "pdf")


@dataclass
class ReportFiles:
    folder: Path
    files: list[Path] = field(default_factory=list)
    data: ReportData | None = None

    def add(self, path: Path) -> Path:
        self.files.append(path)
        return path


def _write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value, indent=2, sort_keys=False, default=str), encoding="utf-8")
    return path


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def _safe_name(text: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text).strip("_")
    return cleaned[:80] or "sbom"


# --------------------------------------------------------------------------- SBOM and VEX


def sbom_cyclonedx(session: Session, sbom: SbomRow) -> dict[str, Any]:
    """A stored SBOM as CycloneDX 1.5 JSON, FDA support fields as properties."""
    components = list(
        session.scalars(
            select(ComponentRow).where(ComponentRow.sbom_id == sbom.id).order_by(ComponentRow.id)
        )
    )
    primary = next((c for c in components if c.is_primary), None)

    def entry(c: ComponentRow) -> dict[str, Any]:
        item: dict[str, Any] = {"type": c.type or "library", "bom-ref": c.ref, "name": c.name}
        for key, value in (("version", c.version), ("group", c.group), ("purl", c.purl)):
            if value:
                item[key] = value
        if c.cpes:
            item["cpe"] = c.cpes[0]
        if c.supplier:
            item["supplier"] = {"name": c.supplier}
        if c.hashes:
            item["hashes"] = [{"alg": h["alg"], "content": h["value"]} for h in c.hashes]
        if c.licenses:
            item["licenses"] = [{"expression": lic} for lic in c.licenses]
        props = [
            {"name": name, "value": value}
            for name, value in (
                ("medsentry:level_of_support", c.support_level),
                ("medsentry:end_of_support", c.end_of_support),
            )
            if value
        ]
        if props:
            item["properties"] = props
        return item

    doc: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": sbom.serial
        if (sbom.serial or "").startswith("urn:uuid:")
        else f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, sbom.sha256)}",
        "version": 1,
        "metadata": {
            "timestamp": sbom.timestamp or datetime.now(UTC).isoformat(timespec="seconds"),
            "tools": {"components": [{"type": "application", "name": "medsentry"}]},
        },
        "components": [entry(c) for c in components if not c.is_primary],
        "dependencies": [
            {"ref": c.ref, "dependsOn": list(c.depends_on)} for c in components if c.depends_on
        ],
    }
    if primary is not None:
        doc["metadata"]["component"] = entry(primary)
    if sbom.manufacturer:
        doc["metadata"]["manufacturer"] = {"name": sbom.manufacturer}
    return doc


def vex_statements(session: Session) -> list[VexStatement]:
    """One VEX statement per finding, naming the component by purl or bom-ref."""
    rows = session.execute(
        select(FindingRow, ComponentRow.purl, ComponentRow.ref).join(
            ComponentRow, ComponentRow.id == FindingRow.component_id
        )
    ).all()
    out = []
    for finding, purl, ref in rows:
        try:
            state = FindingState(finding.state)
        except ValueError:
            continue
        try:
            justification = Justification(finding.justification) if finding.justification else None
        except ValueError:
            justification = None
        out.append(
            VexStatement(
                vuln_id=finding.vuln_id,
                product=purl or ref,
                product_kind="purl" if purl else "bom-ref",
                state=state,
                justification=justification,
                detail=finding.detail,
                response=tuple(finding.response or ()),
            )
        )
    return out


# --------------------------------------------------------------------------- packages


def _manufacturer_package(
    session: Session, data: ReportData, folder: Path, out: ReportFiles
) -> None:
    pkg = folder / "fda_premarket_package"
    (pkg / "sbom").mkdir(parents=True, exist_ok=True)
    for sbom in session.scalars(select(SbomRow).order_by(SbomRow.id)):
        name = _safe_name(
            f"{sbom.manufacturer or ''}_{sbom.model or sbom.name or sbom.id}_"
            f"{sbom.product_version or ''}"
        )
        out.add(_write_json(pkg / "sbom" / f"{name}.cdx.json", sbom_cyclonedx(session, sbom)))
    out.add(
        _write_csv(
            pkg / "vulnerability_assessment.csv",
            [
                "vulnerability",
                "component",
                "version",
                "product",
                "kev",
                "kev_due_date",
                "epss",
                "state",
                "justification",
                "priority",
                "detail",
            ],
            [
                [
                    v.vuln_id,
                    v.component,
                    v.version or "",
                    v.product,
                    "yes" if v.kev else "no",
                    v.kev_due or "",
                    "" if v.epss is None else f"{v.epss:.4f}",
                    v.state,
                    v.justification or "",
                    v.priority or "",
                    v.detail or "",
                ]
                for v in data.vulnerabilities
            ],
        )
    )
    statements = vex_statements(session)
    out.add(
        _write_json(
            pkg / "vex.cdx.json",
            export_cyclonedx_vex(statements, product_name=data.organisation or None),
        )
    )
    out.add(
        _write_json(
            pkg / "security_metrics.json",
            {
                "generated_at": datetime.fromtimestamp(data.generated_at, UTC).isoformat(),
                **data.metrics,
                "kev_open": sum(
                    1
                    for v in data.vulnerabilities
                    if v.kev and v.state in ("affected", "under_investigation")
                ),
                "sboms": data.sboms,
            },
        )
    )
    rows = []
    for t in data.traceability:
        for c in t["controls"] or [
            {"id": "", "title": "(no control)", "reference": "", "status": "", "evidence": ""}
        ]:
            rows.append(
                [
                    t["risk"],
                    t["title"],
                    t["harm"],
                    c["id"],
                    c["title"],
                    c["reference"],
                    c["status"],
                    c["evidence"],
                ]
            )
    out.add(
        _write_csv(
            pkg / "traceability_matrix.csv",
            [
                "risk",
                "risk_title",
                "harm",
                "control",
                "control_title",
                "reference",
                "status",
                "evidence",
            ],
            rows,
        )
    )


def _hospital_package(session: Session, data: ReportData, folder: Path, out: ReportFiles) -> None:
    obs = Observations(session)
    out.add(
        _write_csv(
            folder / "inventory.csv",
            ["device", "key", "type", "manufacturer", "model", "vendor", "ips"],
            [
                [
                    d.label,
                    d.key,
                    d.type,
                    d.manufacturer or "",
                    d.model or "",
                    d.vendor or "",
                    " ".join(d.ips),
                ]
                for d in obs.devices
            ],
        )
    )
    out.add(
        _write_json(folder / "mds2_declared_vs_observed.json", [d.to_json() for d in data.mds2])
    )
    out.add(_write_json(folder / "recall_findings.json", [f.to_json() for f in data.recalls]))


def write_report(
    session: Session,
    profile: str,
    folder: Path,
    *,
    formats: tuple[str, ...] = FORMATS,
    organisation: str = "",
    now: float | None = None,
) -> ReportFiles:
    """Write the report (and the profile's evidence files) into ``folder``."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise InputError(f"unknown report format(s) {sorted(unknown)}: use html and/or pdf")
    folder.mkdir(parents=True, exist_ok=True)
    data = gather(session, profile, organisation=organisation, now=now)
    out = ReportFiles(folder, data=data)
    html = render_html(data)
    if "html" in formats:
        out.add(folder / "report.html").write_text(html, encoding="utf-8")
    if "pdf" in formats:
        out.add(write_pdf(html, folder / "report.pdf"))
    out.add(
        _write_json(
            folder / "assessment.json",
            {
                "profile": profile,
                "generated_at": data.generated_at,
                "summary": data.assessment.summary(),
                "results": [r.to_json() for r in data.assessment.results],
            },
        )
    )
    if profile == "manufacturer":
        _manufacturer_package(session, data, folder, out)
    else:
        _hospital_package(session, data, folder, out)
    manifest = {
        "generated_by": f"MedSentry {data.version}",
        "profile": profile,
        "files": [
            {
                "path": str(p.relative_to(folder)),
                "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                "bytes": p.stat().st_size,
            }
            for p in out.files
        ],
    }
    out.add(_write_json(folder / "manifest.json", manifest))
    return out
