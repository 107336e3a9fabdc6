"""``/login`` and ``/logout`` for staff, and ``/api/v1/staff/me``."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from server.auth.deps import current_session, require_role
from server.auth.hash_cap import BUSY_RETRY_AFTER_S, login_cap
from server.auth.pages import login_page, logout_page
from server.auth.service import LoginFailure, StaffAuth, staff_auth
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
def login(  # the form's fields
    request: Request,
    *,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    code: Annotated[str, Form(max_length=16)] = "",
    next: Annotated[str, Form(max_length=512)] = DEFAULT_NEXT,
) -> Response:
    auth = staff_auth(request)
    target = safe_next(next)
    if not auth.signer.check_login_csrf(csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE)):
        return _login_form(auth, target, "The form expired; please try again.", status.HTTP_403_FORBIDDEN)
    client = request.client.host if request.client else "unknown"
    with login_cap(request).slot() as hashing:
        if not hashing:  # every password-hashing slot is busy: refuse now rather than queue
            log.warning("staff login refused: too many logins at once")
            busy = _login_form(auth, target, "Too many logins at once; try again in a moment.", 503)
            busy.headers["Retry-After"] = str(BUSY_RETRY_AFTER_S)
            return busy
        result = auth.login(username, password, code, client)
    if result.failure is LoginFailure.THROTTLED:
        log.warning("staff login throttled")
        response = _login_form(auth, target, "Too many failed attempts; try again later.", 429)
        response.headers["Retry-After"] = str(int(result.retry_after_s) + 1)
        return response
    if result.failure is not None or result.cookie is None or result.session is None:
        log.info(
            "staff login failed", extra={"reason": result.failure.value if result.failure else "unknown"}
        )
        message = _FAILURES.get(result.failure or LoginFailure.CREDENTIALS, "Wrong user name or password.")
        return _login_form(auth, target, message, status.HTTP_401_UNAUTHORIZED)
    log.info("staff login", extra={"role": result.session.user.role.value})
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        result.cookie,
        max_age=auth.signer.max_age_s,
        httponly=True,
        samesite="lax",
        secure=auth.cookie_secure,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


_FAILURES = {
    LoginFailure.CREDENTIALS: "Wrong user name, password or code.",
    LoginFailure.CODE: "Wrong user name, password or code.",
    LoginFailure.NOT_ENROLLED: "Your role needs a one-time code; ask an administrator to enrol you.",
}


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
    auth = staff_auth(request)
    auth.logout(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/api/v1/staff/me")
def me(user: Annotated[StaffUser, Depends(require_role())]) -> dict[str, str]:
    return {"name": user.name, "role": user.role.value}
