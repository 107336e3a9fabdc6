"""``POST /api/v1/feedback``: a customer's thumbs up or down (stored by ``server.store.feedback``),
with the conversation's token as ``Authorization: Bearer <token>`` (``server.api.customer_auth``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from server.api.ask import SESSION_ID_PATTERN
from server.api.customer_auth import NEEDS_TOKEN, bearer_token, token_session
from server.app_state import app_services
from server.limits.guard import client_address

if TYPE_CHECKING:
    from server.wiring import AppServices

router = APIRouter(prefix="/api/v1")


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: Annotated[str, Field(pattern=SESSION_ID_PATTERN)]
    rating: Literal["up", "down"]
    comment: Annotated[str | None, Field(default=None, max_length=500)] = None


class FeedbackResponse(BaseModel):
    id: int


@router.post("/feedback", response_model=FeedbackResponse, status_code=status.HTTP_201_CREATED)
async def feedback(body: FeedbackRequest, request: Request) -> FeedbackResponse:
    services = app_services(request)
    limits = services.voice.limits
    await limits.check("feedback_per_ip", client_address(request))
    token = bearer_token(request)
    if token is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, NEEDS_TOKEN)
    session_id = token_session(request, token, body.session_id)
    await limits.check("feedback_per_session", session_id)
    return await run_in_threadpool(_store, services, session_id, body)


def _store(services: AppServices, session_id: str, body: FeedbackRequest) -> FeedbackResponse:
    if not services.runtime.store.session_exists(session_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such session")
    return FeedbackResponse(id=services.feedback.add(session_id, body.rating, body.comment))
