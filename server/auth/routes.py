"""``/login`` and ``/logout`` for staff, and ``/api/v1/staff/me``."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from server.auth.deps import current_session, require_role
from server.auth.pages import login_page, logout_page
from server.auth.service import StaffAuth, staff_auth
from server.auth.tokens import LOGIN_CSRF_COOKIE, SESSION_COOKIE, csrf_matches
from server.auth.users import StaffUser

log = logging.getLogger(__name__)
router = APIRouter()
DEFAULT_NEXT = "/admin/"


def safe_next(path: str | None) -> str:
    """Only a local absolute path may be a redirect target (no open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return DEFAULT_NEXT
    return path


def _login_form(auth: StaffAuth, next_path: str, error: str = "", code: int = 200) -> Response:
    token, cookie = auth.signer.login_csrf()
    response = HTMLResponse(login_page(token, next_path, error), status_code=code)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, cookie, max_age=3600, httponly=True, samesite="strict", secure=auth.cookie_secure
    )
    return response


@router.get("/login", include_in_schema=False)
def login_form(request: Request, next: str | None = None) -> Response:
    return _login_form(staff_auth(request), safe_next(next))


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=512)] = DEFAULT_NEXT,
) -> Response:
    auth = staff_auth(request)
    target = safe_next(next)
    if not auth.signer.check_login_csrf(csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE)):
        return _login_form(auth, target, "The form expired; please try again.", status.HTTP_403_FORBIDDEN)
    client = request.client.host if request.client else "unknown"
    key = f"{username.lower()}|{client}"
    wait = auth.throttle.retry_after(key)
    if wait > 0:
        log.warning("staff login throttled")
        response = _login_form(auth, target, "Too many failed attempts; try again later.", 429)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    user = auth.users.authenticate(username, password)
    if user is None:
        auth.throttle.failed(key)
        log.info("staff login failed")
        return _login_form(auth, target, "Wrong user name or password.", status.HTTP_401_UNAUTHORIZED)
    auth.throttle.succeeded(key)
    log.info("staff login", extra={"role": user.role.value})
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        auth.signer.issue(user),
        max_age=auth.signer.max_age_s,
        httponly=True,
        samesite="lax",
        secure=auth.cookie_secure,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.get("/logout", include_in_schema=False)
def logout_form(request: Request) -> Response:
    session = current_session(request)
    if session is None:
        return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    return HTMLResponse(logout_page(session.csrf, session.user.name))


@router.post("/logout", include_in_schema=False)
def logout(request: Request, csrf_token: Annotated[str, Form(max_length=128)] = "") -> Response:
    session = current_session(request)
    if session is not None and not csrf_matches(session, csrf_token):
        return HTMLResponse("missing or wrong CSRF token", status_code=status.HTTP_403_FORBIDDEN)
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/api/v1/staff/me")
def me(user: Annotated[StaffUser, Depends(require_role())]) -> dict[str, str]:
    return {"name": user.name, "role": user.role.value}
