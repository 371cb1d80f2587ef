"""Health (the one anonymous endpoint) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import text

from medsentry import __version__
from medsentry.api.auth.guard import require_viewer
from medsentry.api.metrics import CONTENT_TYPE
from medsentry.api.routers import API_PREFIX
from medsentry.api.schemas import Health

router = APIRouter(prefix=API_PREFIX, tags=["operations"])


@router.get("/health", response_model=Health, summary="Liveness and database reachability")
def health(request: Request, response: Response) -> Health:
    try:
        with request.app.state.ctx.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception:  # any failure means unreachable; the body says so, no details
        database = "unreachable"
        response.status_code = 503
    return Health(
        status="ok" if database == "ok" else "degraded",
        database="ok" if database == "ok" else "unreachable",
        version=__version__,
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE.split(";")[0]: {}}}},
    dependencies=[Depends(require_viewer)],
)
def metrics(request: Request) -> Response:
    return Response(request.app.state.ctx.metrics.render(), media_type=CONTENT_TYPE)
