"""Signed, expiring staff session cookies (carrying a server-side session's token) and CSRF checks."""

from __future__ import annotations

import hmac
import logging
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer

from server.auth.sessions import StaffSession

log = logging.getLogger(__name__)

SESSION_COOKIE = "teller_staff"
LOGIN_CSRF_COOKIE = "teller_login_csrf"
_SESSION_SALT = "teller.staff-session.v2"  # v1 carried name and role: those cookies are void
_LOGIN_SALT = "teller.login-csrf.v1"
_process_key: list[str] = []


def resolve_secret(configured: str | None) -> str:
    """The configured key, or one random key per process (logged once: sessions end on restart)."""
    if configured:
        return configured
    if not _process_key:
        _process_key.append(secrets.token_urlsafe(48))
        log.warning("TELLER_SECRET_KEY is not set: a random per-process key signs staff logins until restart")
    return _process_key[0]


class SessionSigner:
    """Issues and reads the staff session cookie; a token made for any other purpose fails."""

    def __init__(self, secret: str, max_age_s: int) -> None:
        self._session = URLSafeTimedSerializer(secret, salt=_SESSION_SALT)
        self._login = URLSafeTimedSerializer(secret, salt=_LOGIN_SALT)
        self.max_age_s = max_age_s

    def issue(self, session_token: str) -> str:
        """The cookie value naming a server-side session."""
        return self._session.dumps({"s": session_token})

    def read(self, cookie: str | None) -> str | None:
        """The session token of a cookie this key signed within ``max_age_s``; None otherwise."""
        if not cookie:
            return None
        try:
            data = self._session.loads(cookie, max_age=self.max_age_s)
        except BadSignature:
            return None
        if not isinstance(data, dict) or set(data) != {"s"} or not isinstance(data["s"], str):
            return None
        return data["s"]

    def login_csrf(self) -> tuple[str, str]:
        """``(form_token, cookie_value)`` for the login form (double-submit, signed)."""
        token = secrets.token_urlsafe(24)
        return token, self._login.dumps(token)

    def check_login_csrf(self, form_token: str, cookie_value: str | None) -> bool:
        if not cookie_value or not form_token:
            return False
        try:
            expected = self._login.loads(cookie_value, max_age=3600)
        except BadSignature:
            return False
        return isinstance(expected, str) and hmac.compare_digest(expected, form_token)


def csrf_matches(session: StaffSession, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(session.csrf, token or "")
