"""``mount_admin``: the admin at ``/admin``, behind staff login, built on its first request.

Gradio is imported and the Blocks built only when someone opens the admin, so
the server starts (and tests import it) without paying for Gradio.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from server.app_state import app_services
from server.auth.deps import read_session
from server.auth.service import StaffAuth, staff_auth
from server.auth.sessions import StaffSession
from server.auth.tokens import SESSION_COOKIE
from server.auth.users import Role
from server.runtime import Runtime

PATH = "/admin"
ADMIN_ROLES = frozenset({Role.EDITOR, Role.SUPERVISOR, Role.ADMIN})
MAX_BODY_BYTES = 20 * 1024 * 1024
"""Import files and edited tables are bigger than the customer API's limit; staff only."""


class LazyAdmin:
    """An ASGI app: checks the staff session and role, then hands over to the Gradio app."""

    def __init__(self) -> None:
        self._app: ASGIApp | None = None
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return
        conn = HTTPConnection(scope)
        denied = self._deny(conn, await read_session(conn))
        if denied is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 4401})
                return
            await denied(scope, receive, send)
            return
        declared = conn.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            too_big = JSONResponse({"error": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
            await too_big(scope, receive, send)
            return
        app = self._app or await self._build(conn)
        await app(scope, receive, send)

    @staticmethod
    def _deny(conn: HTTPConnection, session: StaffSession | None) -> Response | None:
        if session is None:
            if conn.scope.get("method") == "GET" and "/gradio_api/" not in conn.url.path:
                return RedirectResponse(f"/login?next={PATH}/", status_code=303)
            return JSONResponse({"error": "staff login required"}, status_code=401)
        if session.user.role not in ADMIN_ROLES:
            return JSONResponse(
                {"error": "the admin is for editors, supervisors and admins"}, status_code=403
            )
        return None

    async def _build(self, conn: HTTPConnection) -> ASGIApp:
        auth = staff_auth(conn)
        runtime = app_services(conn).runtime
        blocks = await run_in_threadpool(self._blocks, runtime, auth)
        if self._app is not None:
            return self._app
        import gradio as gr

        def user_of(request: Any) -> str | None:
            session = auth.session_of(request.cookies.get(SESSION_COOKIE))
            return session.user.name if session is not None and session.user.role in ADMIN_ROLES else None

        holder = FastAPI()
        gr.mount_gradio_app(holder, blocks, path=PATH, auth_dependency=user_of, ssr_mode=False,
                            show_error=True, max_file_size=MAX_BODY_BYTES)  # fmt: skip
        gradio_app: ASGIApp = holder.routes[-1].app  # type: ignore[attr-defined]
        blocks.run_startup_events()
        await blocks.run_extra_startup_events()
        self._app = gradio_app
        return gradio_app

    def _blocks(self, runtime: Runtime, auth: StaffAuth) -> Any:
        with self._lock:
            from server.admin.service import AdminService
            from server.admin.ui import build_blocks

            return build_blocks(AdminService(runtime), auth)


def mount_admin(app: FastAPI, runtime: Runtime | None) -> None:
    """Serve the content team's admin at ``/admin`` (unless ``admin.enabled`` is false)."""
    if runtime is not None and not runtime.settings.admin.enabled:
        return
    app.mount(PATH, LazyAdmin())
