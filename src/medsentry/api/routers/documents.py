"""SBOM and advisory uploads (imported and matched by background jobs) and stored SBOMs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import func, select

from medsentry.api.auth.guard import Principal, require_analyst, require_viewer
from medsentry.api.imports import advisory_task, sbom_task
from medsentry.api.jobs import Task
from medsentry.api.paging import Window, paged, window
from medsentry.api.routers import API_PREFIX
from medsentry.api.routers.captures import BINARY_BODY, FileName, ctx_of, job_out, receive_upload
from medsentry.api.schemas import JobOut, Page, Text
from medsentry.api.uploads import UploadKind
from medsentry.store.models.vuln import SbomRow

router = APIRouter(prefix=API_PREFIX, tags=["documents"], dependencies=[Depends(require_viewer)])

REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Empty, truncated or corrupt upload"},
    413: {"description": "Too large, or expands too much when decompressed"},
    415: {"description": "Not a document of the accepted kind"},
}


class SbomOut(BaseModel):
    id: int
    format: str
    spec_version: str
    name: str | None
    product_version: str | None
    manufacturer: str | None
    model: str | None
    imported_at: float
    components: int
    ntia_conformant: bool | None


async def _submit(
    request: Request,
    principal: Principal,
    kind: UploadKind,
    job_kind: str,
    task: Task,
    name: str | None,
) -> JobOut:
    ctx = ctx_of(request)
    upload = await receive_upload(request, kind, ctx.settings.max_document_bytes, name, job_kind)
    job = ctx.jobs.submit(job_kind, upload, principal.username, task, after=ctx.risks.invalidate)
    request.state.audit_action = "upload"
    request.state.audit_detail = {
        "kind": job_kind,
        "file": upload.filename,
        "format": upload.format,
        "bytes": upload.size,
        "job": job.id,
    }
    return job_out(job)


@router.post(
    "/sboms",
    status_code=202,
    response_model=JobOut,
    summary="Upload an SBOM (CycloneDX JSON/XML, SPDX JSON/tag-value) to import and match",
    openapi_extra=BINARY_BODY,
    responses=REFUSALS,
)
async def upload_sbom(
    request: Request,
    principal: Annotated[Principal, Depends(require_analyst)],
    filename: FileName = None,
    manufacturer: Annotated[
        Text | None, Query(description="The device maker it describes (links to devices)")
    ] = None,
    model: Annotated[
        Text | None, Query(description="The device model it describes (links to devices)")
    ] = None,
    match: Annotated[bool, Query(description="Match against advisories at once")] = True,
) -> JobOut:
    task = sbom_task(manufacturer, model, match)
    return await _submit(request, principal, UploadKind.DOCUMENT, "sbom", task, filename)


@router.post(
    "/advisories",
    status_code=202,
    response_model=JobOut,
    summary="Upload advisory data (CSAF, OSV, CVE JSON 5, NVD, KEV, EPSS) and match again",
    openapi_extra=BINARY_BODY,
    responses=REFUSALS,
)
async def upload_advisory(
    request: Request,
    principal: Annotated[Principal, Depends(require_analyst)],
    filename: FileName = None,
    inventory: Annotated[
        bool,
        Query(description="Also match device models seen on the network that have no SBOM"),
    ] = False,
) -> JobOut:
    task = advisory_task(inventory)
    return await _submit(request, principal, UploadKind.ADVISORY, "advisory", task, filename)


@router.get("/sboms", response_model=Page[SbomOut], summary="Stored SBOMs, newest first")
def list_sboms(request: Request, w: Annotated[Window, Depends(window)]) -> Page[SbomOut]:
    order = SbomRow.imported_at.desc() if w.desc else SbomRow.imported_at.asc()
    with ctx_of(request).store.session() as session:
        total = session.scalar(select(func.count()).select_from(SbomRow)) or 0
        rows = session.scalars(
            select(SbomRow).order_by(order, SbomRow.id).limit(w.limit).offset(w.offset)
        ).all()
        items = [
            SbomOut(
                id=r.id,
                format=r.format,
                spec_version=r.spec_version,
                name=r.name,
                product_version=r.product_version,
                manufacturer=r.manufacturer,
                model=r.model,
                imported_at=r.imported_at,
                components=r.component_count,
                ntia_conformant=(r.quality or {}).get("ntia_conformant"),
            )
            for r in rows
        ]
    return paged(items, int(total), w)
