"""FastAPI dependencies for staff endpoints: who is logged in, with which role."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request, status
from starlette.requests import HTTPConnection

from server.auth.service import staff_auth
from server.auth.sessions import StaffSession
from server.auth.tokens import SESSION_COOKIE, csrf_matches
from server.auth.users import Role, StaffUser

CSRF_HEADER = "x-csrf-token"


def current_session(conn: HTTPConnection) -> StaffSession | None:
    """Blocking: the live server-side staff session the signed cookie names (checked in the
    store); customer tokens never count."""
    return staff_auth(conn).session_of(conn.cookies.get(SESSION_COOKIE))


async def read_session(conn: HTTPConnection) -> StaffSession | None:
    """``current_session`` off the event loop."""
    auth = staff_auth(conn)
    return await asyncio.to_thread(auth.session_of, conn.cookies.get(SESSION_COOKIE))


def require_role(*roles: Role) -> Callable[[Request], Awaitable[StaffUser]]:
    """A dependency: 401 without a staff session, 403 with the wrong role.

    State-changing methods must also carry the session's CSRF token
    (``X-CSRF-Token`` header or a ``csrf_token`` form field).
    """
    allowed = frozenset(roles)

    async def dependency(request: Request) -> StaffUser:
        session = await read_session(request)
        if session is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "staff login required")
        if allowed and session.user.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this role may not do that")
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            token = request.headers.get(CSRF_HEADER)
            if token is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")
            ):
                token = str((await request.form()).get("csrf_token") or "")
            if not csrf_matches(session, token):
                raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")
        return session.user

    return dependency
