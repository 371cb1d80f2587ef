"""The work of SBOM and advisory upload jobs: the same import and matching as
``medsentry sbom import`` and ``medsentry advisories import``, with progress."""

from __future__ import annotations

from typing import Any

from medsentry.api.jobs import ProgressFn, Task
from medsentry.api.uploads import StoredUpload
from medsentry.store.db import Store
from medsentry.vuln.io import read_bytes


def sbom_task(manufacturer: str | None, model: str | None, match: bool) -> Task:
    """Store an uploaded SBOM (for this device maker and model, when given) and match its
    components against the stored advisories."""

    def run(store: Store, upload: StoredUpload, progress: ProgressFn) -> dict[str, Any]:
        from medsentry.vuln.findings import match_and_store
        from medsentry.vuln.repository import save_sbom
        from medsentry.vuln.sbom.load import parse_sbom

        progress(0.05, "reading the SBOM")
        loaded = parse_sbom(read_bytes(upload.path), upload.filename)
        progress(0.3, "grading it (NTIA minimum elements, FDA additions)")
        report = loaded.quality()
        progress(0.5, "storing its components")
        with store.session() as session:
            row, new = save_sbom(
                session,
                loaded.sbom,
                loaded.sha256,
                quality=report.to_dict(),
                manufacturer=manufacturer,
                model=model,
            )
            sbom_id = row.id
        result: dict[str, Any] = {
            "sbom_id": sbom_id,
            "new": new,
            "format": loaded.sbom.format,
            "components": len(loaded.sbom.components),
            "ntia_conformant": report.ntia_conformant,
            "flaws": dict(report.flaw_codes()),
        }
        if match:
            progress(0.7, "matching against the stored advisories")
            with store.session() as session:
                run = match_and_store(session, sbom_ids=[sbom_id])
            result.update(findings_new=run.new, findings_refreshed=run.refreshed)
        return result

    return run


def advisory_task(inventory: bool) -> Task:
    """Store an uploaded advisory document (CSAF, OSV, CVE JSON 5, NVD, KEV, EPSS) and match
    every stored SBOM against the advisories again; with ``inventory``, also the device
    models seen on the network that have no SBOM."""

    def run(store: Store, upload: StoredUpload, progress: ProgressFn) -> dict[str, Any]:
        from medsentry.vuln.advisories.importer import parse_document, store_documents
        from medsentry.vuln.findings import inventory_sboms, match_and_store

        progress(0.05, "reading and validating the document")
        document = parse_document(read_bytes(upload.path), upload.filename)
        progress(0.4, f"storing the {document.kind} data")
        with store.session() as session:
            summary = store_documents(session, [document])
        progress(0.6, "matching the stored SBOMs again")
        with store.session() as session:
            run = match_and_store(session)
            new = run.new
            if inventory:
                ids = inventory_sboms(session)
                if ids:
                    new += match_and_store(session, sbom_ids=ids, match_unversioned=True).new
        totals = summary.to_dict()
        return {
            "kind": document.kind,
            "advisories": totals["advisories"],
            "affected_products": totals["affected_products_written"],
            "kev_entries": totals["kev_entries"],
            "epss_scores": totals["epss_scores"],
            "validation_issues": totals["validation_issues"],
            "findings_new": new,
            "findings_refreshed": run.refreshed,
            "findings_closed": run.closed,
        }

    return run
