"""``POST /api/v1/feedback``: a customer's thumbs up or down (stored by ``server.store.feedback``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

from server.api.ask import SESSION_ID_PATTERN
from server.app_state import app_services

router = APIRouter(prefix="/api/v1")


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: Annotated[str, Field(pattern=SESSION_ID_PATTERN)]
    rating: Literal["up", "down"]
    comment: Annotated[str | None, Field(default=None, max_length=500)] = None


class FeedbackResponse(BaseModel):
    id: int


@router.post("/feedback", response_model=FeedbackResponse, status_code=status.HTTP_201_CREATED)
def feedback(body: FeedbackRequest, request: Request) -> FeedbackResponse:
    services = app_services(request)
    if not services.runtime.store.session_exists(body.session_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such session")
    return FeedbackResponse(id=services.feedback.add(body.session_id, body.rating, body.comment))
