"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from server.api import ask
from server.config import Settings
from server.runtime import Runtime, open_runtime

log = logging.getLogger(__name__)


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"), "problem": err.get("msg", "")}
        for err in exc.errors()
    ]
    return JSONResponse(status_code=422, content={"error": "invalid request", "detail": problems})


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the app; pass ``runtime`` to share one already opened (tests, benchmarks)."""
    settings = settings or (runtime.settings if runtime else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        app.state.runtime = runtime or open_runtime(settings)
        log.info("teller ready", extra={"knowledge_version": app.state.runtime.brain.retriever.version})
        try:
            yield
        finally:
            if owned:
                app.state.runtime.close()

    app = FastAPI(title="Digital Teller", version="0.1.0", lifespan=lifespan)
    if runtime is not None:
        app.state.runtime = runtime
    app.add_exception_handler(RequestValidationError, _validation_error)
    limit = settings.server.max_request_bytes

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return JSONResponse(status_code=413, content={"error": f"request body over {limit} bytes"})
        if request.method in ("POST", "PUT", "PATCH") and declared is None:
            body = await request.body()
            if len(body) > limit:
                return JSONResponse(status_code=413, content={"error": f"request body over {limit} bytes"})
        return await call_next(request)

    @app.get("/healthz")
    def healthz(request: Request) -> dict[str, object]:
        rt: Runtime = request.app.state.runtime
        return {"status": "ok", "knowledge_version": rt.brain.retriever.version}

    app.include_router(ask.router)
    return app
