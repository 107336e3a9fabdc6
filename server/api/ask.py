"""``POST /api/v1/ask``: a text question in, a grounded decision out.

The reply carries the conversation's signed ``token``; later questions of that conversation send
it as ``Authorization: Bearer <token>`` (``server.api.customer_auth``).
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, field_validator

from server.api.customer_auth import ask_session, issue_token
from server.app_state import app_services
from server.limits.guard import client_address
from server.turns import citation_dicts, take_text_turn

router = APIRouter(prefix="/api/v1")

SESSION_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(max_length=1000)]
    session_id: Annotated[str | None, Field(default=None, pattern=SESSION_ID_PATTERN)] = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be empty")
        if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
            raise ValueError("text must be plain text without control characters")
        return value


class CitationOut(BaseModel):
    problem_id: str
    product: str
    scenario: str
    source_intents: list[str]
    knowledge_version: int


class AskResponse(BaseModel):
    session_id: str
    token: str  # send it as "Authorization: Bearer <token>" with the next /ask and /feedback
    expires_in: int
    decision: Literal["answer", "clarify", "handoff", "refuse"]
    text: str
    confidence: float
    citations: list[CitationOut]


@router.post("/ask", response_model=AskResponse)
async def ask(body: AskRequest, request: Request) -> AskResponse:
    # The turn (retrieval, the store's commit) runs on a worker thread; the response is
    # built back on the event loop, saving FastAPI's second thread hop for a sync route.
    services = app_services(request)
    rt = services.runtime
    limits = services.voice.limits
    await limits.check("ask_per_ip", client_address(request))
    session_id = await ask_session(request, body.session_id)
    await limits.check("ask_per_session", session_id)
    reply = await run_in_threadpool(
        partial(take_text_turn, rt.brain, rt.store, session_id, body.text, tickets=services.tickets)
    )
    return AskResponse(
        session_id=session_id,
        token=issue_token(request, session_id),
        expires_in=limits.settings.ask_token_ttl_s,
        decision=reply.decision.value,
        text=reply.text,
        confidence=reply.confidence,
        citations=[CitationOut(**c) for c in citation_dicts(reply)],
    )
