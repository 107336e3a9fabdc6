"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from server import auth, pages
from server.admin import mount_admin
from server.admin.mount import PATH as ADMIN_PATH
from server.api import ask, feedback
from server.app_state import app_services
from server.body_limit import BodyLimit
from server.cluster.identity import WorkerIdentity
from server.config import Settings
from server.heap import frozen_heap
from server.operator import console
from server.runtime import Runtime, open_runtime
from server.store.retry import StoreUnavailable
from server.voice.transport import routes as voice_routes
from server.wiring import open_services

log = logging.getLogger(__name__)


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"), "problem": err.get("msg", "")}
        for err in exc.errors()
    ]
    return JSONResponse(status_code=422, content={"error": "invalid request", "detail": problems})


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(status_code=exc.status_code, content={"error": exc.detail}, headers=exc.headers)


def _store_unavailable(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StoreUnavailable)
    # Nothing was saved, so nothing is acknowledged: the client may send the same request again.
    content = {"error": "records unavailable: nothing was saved, try again shortly", "retryable": True}
    return JSONResponse(status_code=503, content=content, headers={"Retry-After": "5"})


def create_app(
    settings: Settings | None = None, runtime: Runtime | None = None, *, worker: WorkerIdentity | None = None
) -> FastAPI:
    """Build the app; pass ``runtime`` to share one already opened (tests, benchmarks).

    ``worker``: the app is that worker of a cluster (session registry, dispatch, drain).
    """
    settings = settings or (runtime.settings if runtime else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt: Runtime = runtime or open_runtime(settings)
        services = app.state.services = open_services(rt, worker)
        log.info("teller ready", extra={"knowledge_version": rt.brain.retriever.version})
        try:
            with frozen_heap():
                yield
        finally:
            await services.aclose()
            if runtime is None:
                rt.close()

    app = FastAPI(title="Digital Teller", version="0.1.0", lifespan=lifespan)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    # The admin is staff only and enforces its own (upload) limit.
    app.add_middleware(BodyLimit, limit=settings.server.max_request_bytes, exempt=ADMIN_PATH)

    @app.get("/healthz")
    def healthz(request: Request) -> JSONResponse:
        services = app_services(request)
        version = services.runtime.brain.retriever.version
        body: dict[str, object] = {"status": "ok", "knowledge_version": version}
        if services.cluster is None:
            return JSONResponse(body)
        body["worker"] = services.cluster.worker_id
        if services.cluster.draining:  # the edge and orchestrators stop sending new customers here
            return JSONResponse({**body, "status": "draining"}, status_code=503)
        return JSONResponse(body)

    app.include_router(ask.router)
    app.include_router(feedback.router)
    app.include_router(auth.router)
    app.include_router(voice_routes.router)
    app.include_router(pages.router)
    app.include_router(console.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    mount_admin(app, runtime)
    return app
