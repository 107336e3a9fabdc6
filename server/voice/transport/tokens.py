"""Signed, expiring customer session tokens (HMAC, itsdangerous)."""

from __future__ import annotations

import logging
import secrets

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

log = logging.getLogger(__name__)


class TokenError(ValueError):
    """A customer token that is missing, forged or expired."""

    retryable = False


class SessionTokens:
    """Issues a token bound to one session id; a customer token never opens staff endpoints."""

    SALT = "digital-teller.customer-session"

    def __init__(self, secret: str | None, ttl_secs: int) -> None:
        if not secret:
            log.warning("TELLER_SECRET_KEY is not set: customer tokens use a per-process random key")
            secret = secrets.token_urlsafe(32)
        self._signer = URLSafeTimedSerializer(secret, salt=self.SALT)
        self._ttl = ttl_secs

    def issue(self, session_id: str) -> str:
        return self._signer.dumps({"sid": session_id, "role": "customer"})

    def verify(self, token: str | None) -> str:
        """Return the session id the token was issued for."""
        if not token:
            raise TokenError("a session token is required: GET /api/v1/session first")
        try:
            data = self._signer.loads(token, max_age=self._ttl)
        except SignatureExpired as exc:
            raise TokenError("the session token has expired; reload the page") from exc
        except BadSignature as exc:
            raise TokenError("the session token is not valid") from exc
        if (
            not isinstance(data, dict)
            or data.get("role") != "customer"
            or not isinstance(data.get("sid"), str)
        ):
            raise TokenError("the session token is not valid")
        return str(data["sid"])
