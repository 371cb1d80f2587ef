"""Captures: the analysed list, upload (analysed by a background job) and job progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from medsentry.api.auth.guard import Principal, require_analyst, require_viewer
from medsentry.api.context import AppContext
from medsentry.api.jobs import Job
from medsentry.api.paging import Window, paged, window
from medsentry.api.routers import API_PREFIX
from medsentry.api.schemas import CaptureOut, JobOut, Page
from medsentry.api.uploads import (
    StoredUpload,
    UploadKind,
    UploadLimits,
    UploadRejected,
    inspect,
    receive,
    safe_name,
)
from medsentry.store import repository

router = APIRouter(prefix=API_PREFIX, tags=["captures"], dependencies=[Depends(require_viewer)])

BINARY_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
FileName = Annotated[
    str | None,
    Query(max_length=255, pattern=r"^[^\x00]*$", description="The file's name, for display"),
]


def ctx_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def job_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        kind=job.kind,
        filename=job.filename,
        owner=job.owner,
        state=job.state,
        stage=job.stage,
        progress=round(job.progress, 4),
        bytes_total=job.bytes_total,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        error=job.error,
        result=job.result,
    )


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise UploadRejected(400, "the Content-Length header is not a number")
    return int(value)


async def receive_upload(
    request: Request, kind: UploadKind, max_bytes: int, filename: str | None, what: str
) -> StoredUpload:
    """Stream the request body into the upload area and check what it is."""
    settings = ctx_of(request).settings
    limits = UploadLimits(max_bytes, max_bytes * 4, settings.max_expansion_ratio)
    folder, path, size = await receive(
        request.stream(), _declared_length(request), settings.work_dir, limits, what
    )
    name = safe_name(filename, what)
    return await run_in_threadpool(inspect, folder, path, size, kind, limits, name)


@router.get("/captures", response_model=Page[CaptureOut], summary="Analysed captures")
def list_captures(request: Request, w: Annotated[Window, Depends(window)]) -> Page[CaptureOut]:
    page = repository.list_captures(ctx_of(request).store, limit=w.limit, offset=w.offset)
    return paged([CaptureOut(**c.to_json()) for c in page.rows], page.total, w)


@router.post(
    "/captures",
    status_code=202,
    response_model=JobOut,
    summary="Upload a capture (pcap/pcapng, optionally gzip/bzip2/xz) and analyse it",
    openapi_extra=BINARY_BODY,
    responses={
        400: {"description": "Empty, truncated or corrupt upload"},
        413: {"description": "Too large, or expands too much when decompressed"},
        415: {"description": "Not a capture"},
    },
)
async def upload_capture(
    request: Request,
    principal: Annotated[Principal, Depends(require_analyst)],
    filename: FileName = None,
) -> JobOut:
    ctx = ctx_of(request)
    upload = await receive_upload(
        request, UploadKind.CAPTURE, ctx.settings.max_capture_bytes, filename, "capture"
    )
    job = ctx.jobs.submit_capture(upload, principal.username)
    request.state.audit_action = "upload"
    request.state.audit_detail = {
        "kind": "capture",
        "file": upload.filename,
        "format": upload.format,
        "bytes": upload.size,
        "job": job.id,
    }
    return job_out(job)


@router.get("/jobs", response_model=list[JobOut], summary="Recent background jobs")
def list_jobs(request: Request) -> list[JobOut]:
    return [job_out(j) for j in ctx_of(request).jobs.recent()]


@router.get("/jobs/{job_id}", response_model=JobOut, summary="One job's progress")
def get_job(request: Request, job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]) -> JobOut:
    job = ctx_of(request).jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}; jobs are kept until the server restarts")
    return job_out(job)
