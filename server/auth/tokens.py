"""Signed, expiring staff session cookies and the CSRF tokens bound to them."""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from server.auth.users import Role, StaffUser

log = logging.getLogger(__name__)

SESSION_COOKIE = "teller_staff"
LOGIN_CSRF_COOKIE = "teller_login_csrf"
_SESSION_SALT = "teller.staff-session.v1"
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


@dataclass(frozen=True)
class StaffSession:
    user: StaffUser
    csrf: str


class SessionSigner:
    """Issues and reads the staff session cookie; a token made for any other purpose fails."""

    def __init__(self, secret: str, max_age_s: int) -> None:
        self._session = URLSafeTimedSerializer(secret, salt=_SESSION_SALT)
        self._login = URLSafeTimedSerializer(secret, salt=_LOGIN_SALT)
        self.max_age_s = max_age_s

    def issue(self, user: StaffUser) -> str:
        return self._session.dumps({"u": user.name, "r": user.role.value, "c": secrets.token_urlsafe(24)})

    def read(self, token: str | None) -> StaffSession | None:
        if not token:
            return None
        try:
            data = self._session.loads(token, max_age=self.max_age_s)
        except BadSignature:
            return None
        if not isinstance(data, dict) or set(data) != {"u", "r", "c"}:
            return None
        try:
            role = Role(data["r"])
        except ValueError:
            return None
        return StaffSession(StaffUser(str(data["u"]), role), str(data["c"]))

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
