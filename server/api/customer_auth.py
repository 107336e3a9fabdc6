"""Which conversation a text request may touch: the signed customer token proves it.

The first ``POST /api/v1/ask`` without a token starts a conversation and returns its token; every
later request for that conversation carries it as ``Authorization: Bearer <token>`` (a voice
session's token from ``GET /api/v1/session`` works too). A token for another conversation is
refused (403), a missing or bad one for an existing conversation too (401): nothing is stored.
"""

from __future__ import annotations

from fastapi import HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool

from server.app_state import app_services
from server.turns import new_session_id
from server.voice.transport.tokens import TokenError

NEEDS_TOKEN = "this conversation needs its token: send 'Authorization: Bearer <token from the first /ask>'"
OTHER_SESSION = "the token belongs to another conversation"


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header; None without one."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "use 'Authorization: Bearer <token>'")
    return token.strip()


def token_session(request: Request, token: str, session_id: str | None) -> str:
    """The conversation ``token`` was issued for, which must be ``session_id`` when one is named."""
    voice = app_services(request).voice
    try:
        claims = voice.tokens.verify_resume(token, voice.limits.settings.ask_token_ttl_s)
    except TokenError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc
    if session_id is not None and session_id != claims.session_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, OTHER_SESSION)
    return claims.session_id


async def ask_session(request: Request, session_id: str | None) -> str:
    """The conversation an ``/ask`` goes to: its token's; a new one without a token (a caller may
    name a new id, never an existing one)."""
    token = bearer_token(request)
    if token is not None:
        return token_session(request, token, session_id)
    if session_id is None:
        return new_session_id()
    store = app_services(request).runtime.store
    if await run_in_threadpool(store.session_exists, session_id):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, NEEDS_TOKEN)
    return session_id


def issue_token(request: Request, session_id: str) -> str:
    """A fresh token for ``session_id`` (no worker: text turns are served by any)."""
    return app_services(request).voice.tokens.issue(session_id)
