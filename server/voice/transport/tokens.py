"""Signed, expiring customer session tokens (HMAC, itsdangerous)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

log = logging.getLogger(__name__)


class TokenError(ValueError):
    """A customer token that is missing, forged or expired."""

    retryable = False


class WrongWorker(TokenError):
    """A valid token that names another worker: the edge routed the customer to the wrong one."""

    def __init__(self, named: str | None, here: str | None) -> None:
        self.named = named
        self.here = here
        super().__init__(f"this session belongs to worker {named or '(none)'}, not {here or '(none)'}")


@dataclass(frozen=True)
class TokenClaims:
    session_id: str
    worker: str | None  # the worker the token was issued for (None: a single process)


class SessionTokens:
    """Issues a token bound to one session id (and, in a cluster, one worker); a customer token
    never opens staff endpoints."""

    SALT = "digital-teller.customer-session"

    def __init__(self, secret: str | None, ttl_secs: int) -> None:
        if not secret:
            log.warning("TELLER_SECRET_KEY is not set: customer tokens use a per-process random key")
            secret = secrets.token_urlsafe(32)
        self._signer = URLSafeTimedSerializer(secret, salt=self.SALT)
        self._ttl = ttl_secs

    def issue(self, session_id: str, worker: str | None = None) -> str:
        """A token for ``session_id``; ``worker``: the only worker that may serve it."""
        claims = {"sid": session_id, "role": "customer"}
        if worker is not None:
            claims["wid"] = worker
        return self._signer.dumps(claims)

    def verify(self, token: str | None, worker: str | None = None) -> str:
        """Return the session id the token was issued for; ``worker`` is the one verifying.

        A token naming another worker (or naming one where ``worker`` is None, or none where it
        is set) raises ``WrongWorker``.
        """
        claims = self._claims(token, self._ttl)
        if claims.worker != worker:
            raise WrongWorker(claims.worker, worker)
        return claims.session_id

    def verify_resume(self, token: str | None, max_age_s: int) -> TokenClaims:
        """The claims of a token issued up to ``max_age_s`` ago, whichever worker it names (that
        worker may be gone): its holder may pick the session up again on another one."""
        return self._claims(token, max_age_s)

    def _claims(self, token: str | None, max_age_s: int) -> TokenClaims:
        if not token:
            raise TokenError("a session token is required: GET /api/v1/session first")
        try:
            data = self._signer.loads(token, max_age=max_age_s)
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
        named = data.get("wid")
        return TokenClaims(str(data["sid"]), named if isinstance(named, str) else None)


# The websocket carries its token in ``Sec-WebSocket-Protocol`` (never in the URL, which access
# logs keep): the page offers ``teller.v1`` and ``teller.token.<token>``; the server accepts
# ``teller.v1``. A signed token is URL-safe base64 and dots, legal in a subprotocol name.
WS_PROTOCOL = "teller.v1"
WS_TOKEN_PREFIX = "teller.token."


def ws_subprotocols(token: str) -> list[str]:
    """The subprotocols a websocket client offers to open a session with ``token``."""
    return [WS_PROTOCOL, WS_TOKEN_PREFIX + token]


def token_from_subprotocols(offered: list[str]) -> str | None:
    """The token a client offered as a subprotocol, if it offered ``teller.v1`` and one token."""
    if WS_PROTOCOL not in offered:
        return None
    tokens = [p[len(WS_TOKEN_PREFIX) :] for p in offered if p.startswith(WS_TOKEN_PREFIX)]
    return tokens[0] if len(tokens) == 1 else None
