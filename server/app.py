"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from knowledge.admin import mount_admin
from knowledge.admin.follow import VersionFollower
from knowledge.admin.mount import PATH as ADMIN_PATH
from server import auth, pages
from server.api import ask, feedback
from server.body_limit import BodyLimit
from server.config import Settings
from server.heap import frozen_heap
from server.operator import console
from server.operator.hub import OperatorHub, problem_lookup
from server.runtime import Runtime, open_runtime
from server.tickets.model import Ticket
from server.tickets.service import TicketService, open_ticket_service
from server.voice import routes as voice_routes
from server.voice.manager import SessionManager
from server.voice.routes import make_voice_runtime
from server.voice.services import VoiceServices, load_voice_services
from server.voice.warm import PublishWarmer

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


def _operator_hub(rt: Runtime, tickets: TicketService) -> OperatorHub:
    def latest_ticket(session_id: str) -> Ticket | None:
        stored = tickets.latest(session_id)
        return stored.ticket if stored is not None else None

    return OperatorHub(
        rt.store,
        problem_lookup(rt.brain),
        confirm_timeout_s=rt.settings.operator.confirm_timeout_s,
        latest_ticket=latest_ticket,
    )


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the app; pass ``runtime`` to share one already opened (tests, benchmarks)."""
    settings = settings or (runtime.settings if runtime else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        rt: Runtime = runtime or open_runtime(settings)
        app.state.runtime = rt
        app.state.tickets = open_ticket_service(rt)

        async def load_services() -> VoiceServices:
            return await asyncio.to_thread(load_voice_services, settings, rt.brain, rt.store)

        hub = app.state.operator_hub = _operator_hub(rt, app.state.tickets)
        voice = settings.voice
        manager = SessionManager(
            load_services, max_sessions=voice.max_sessions, max_per_ip=voice.max_sessions_per_ip, hub=hub
        )
        app.state.voice = make_voice_runtime(settings, manager)
        log.info("teller ready", extra={"knowledge_version": rt.brain.retriever.version})
        follower = asyncio.create_task(VersionFollower(rt).run(), name="knowledge-follower")
        warming = asyncio.create_task(  # speaks newly published answers into the speech cache
            PublishWarmer(rt.brain, lambda: s.voice if (s := manager.loaded_services) else None).run(),
            name="speech-cache-warmer",
        )
        try:
            with frozen_heap():
                yield
        finally:
            for task in (follower, warming):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.voice.close()
            await hub.bus.aclose()
            await asyncio.to_thread(app.state.tickets.close)  # after the sessions' closing tickets
            if owned:
                rt.close()

    app = FastAPI(title="Digital Teller", version="0.1.0", lifespan=lifespan)
    if runtime is not None:
        app.state.runtime = runtime
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # The admin is staff only and enforces its own (upload) limit.
    app.add_middleware(BodyLimit, limit=settings.server.max_request_bytes, exempt=ADMIN_PATH)

    @app.get("/healthz")
    def healthz(request: Request) -> dict[str, object]:
        rt: Runtime = request.app.state.runtime
        return {"status": "ok", "knowledge_version": rt.brain.retriever.version}

    app.include_router(ask.router)
    app.include_router(feedback.router)
    app.include_router(auth.router)
    app.include_router(voice_routes.router)
    app.include_router(pages.router)
    app.include_router(console.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    mount_admin(app, runtime)
    return app
