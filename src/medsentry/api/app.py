"""The FastAPI application: REST API under ``/api/v1``, dashboard pages at ``/``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

from medsentry import __version__
from medsentry.api.auth.guard import NotAuthenticated, require_viewer
from medsentry.api.context import AppContext
from medsentry.api.observe import RequestObserver
from medsentry.api.routers import (
    API_PREFIX,
    accounts,
    alerts,
    captures,
    compliance,
    devices,
    documents,
    findings,
    health,
    traffic,
)
from medsentry.api.settings import ApiSettings
from medsentry.api.uploads import UploadRejected
from medsentry.api.web import compliance as web_compliance
from medsentry.api.web import routes as web
from medsentry.api.web import triage as web_triage
from medsentry.api.web import vulns as web_vulns
from medsentry.config import database_url
from medsentry.errors import InputError, MedSentryError, StoreError
from medsentry.store.alert_triage import AlertStateError, UnknownAlertError
from medsentry.store.db import Store
from medsentry.store.repository import UnknownDeviceError

STATIC_DIR = Path(__file__).with_name("web") / "static"

DESCRIPTION = """
MedSentry's REST API: devices seen on the network, their flows and protocol events,
alerts and their triage, vulnerability findings and VEX states, SBOM and advisory
uploads, compliance status and attestations, analysed captures and background jobs,
accounts and the audit log.

Authenticate with an API token (`medsentry tokens create`) as `Authorization: Bearer
mst_...`. Lists share `limit`, `offset`, `order` (and `sort` where offered) and answer
`{items, total, limit, offset}`. Only `/api/v1/health` answers without credentials.
"""


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, exc: NotAuthenticated) -> Response:
        if _is_api(request):
            return JSONResponse(
                {"detail": f"not authenticated: {exc.reason}"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return web.login_page(request, status_code=401)

    @app.exception_handler(UploadRejected)
    async def upload_rejected(request: Request, exc: UploadRejected) -> Response:
        request.app.state.ctx.metrics.uploads_rejected.labels(str(exc.status)).inc()
        request.state.audit_action = "upload_rejected"
        request.state.audit_detail = {"reason": str(exc)}
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(UnknownDeviceError)
    async def unknown_device(request: Request, exc: UnknownDeviceError) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(UnknownAlertError)
    async def unknown_alert(request: Request, exc: UnknownAlertError) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(AlertStateError)
    async def alert_state(request: Request, exc: AlertStateError) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(MedSentryError)
    async def medsentry_error(request: Request, exc: MedSentryError) -> Response:
        status = 400 if isinstance(exc, InputError) else 500
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # The standard 422 body, minus the echoed input (it may be a password).
        errors = [
            {key: value for key, value in error.items() if key not in {"input", "ctx"}}
            for error in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every endpoint of an app or router, through included routers of any depth."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # FastAPI's lazy includes
        if included is not None:
            yield from api_routes(included.routes)


def create_app(
    store_url: str | None = None,
    settings: ApiSettings | None = None,
    *,
    store: Store | None = None,
) -> FastAPI:
    """The MedSentry web application over the store at ``store_url`` (or ``store``)."""
    owned = store is None
    the_store = store if store is not None else Store(database_url(store_url))
    ctx = AppContext.build(the_store, settings or ApiSettings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        ctx.close()
        if owned:
            the_store.close()

    app = FastAPI(
        title="MedSentry",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # the interactive docs load scripts from a CDN; the spec is enough
        redoc_url=None,
        openapi_url=None,  # served below, behind authentication like everything else
    )
    app.state.ctx = ctx
    _install_handlers(app)
    for module in (
        health,
        devices,
        traffic,
        alerts,
        findings,
        captures,
        documents,
        compliance,
        accounts,
    ):
        app.include_router(module.router)
    for pages in (web, web_triage, web_vulns, web_compliance):
        app.include_router(pages.router)

    @app.get(
        f"{API_PREFIX}/openapi.json",
        include_in_schema=False,
        dependencies=[Depends(require_viewer)],
    )
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(RequestObserver, ctx=ctx)
    return app
