"""A voice session's thumbs up or down (the ``feedback`` client message), stored off the event loop.

The rows are the ones ``POST /api/v1/feedback`` writes (``server.store.feedback.FeedbackStore``);
the table is made sure of once per session, at its first rating.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from sqlalchemy import Engine

from server.store.feedback import FeedbackStore


class SessionFeedback:
    """Records this session's ratings in the store's database."""

    def __init__(self, engine: Engine, session_id: str) -> None:
        self._engine = engine
        self._session_id = session_id
        self._store: FeedbackStore | None = None

    async def rate(self, rating: Literal["up", "down"]) -> None:
        if self._store is None:
            self._store = await asyncio.to_thread(FeedbackStore, self._engine)
        await asyncio.to_thread(self._store.add, self._session_id, rating, None)
