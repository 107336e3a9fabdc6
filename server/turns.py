"""One text turn end to end: record the question, decide, record the reply."""

from __future__ import annotations

import uuid
from typing import Any

from server.brain.brain import Brain, BrainReply
from server.store.store import Store, TurnRecord


def new_session_id() -> str:
    return uuid.uuid4().hex


def citation_dicts(reply: BrainReply) -> list[dict[str, Any]]:
    return [
        {
            "problem_id": c.problem_id,
            "product": c.product,
            "scenario": c.scenario,
            "source_intents": list(c.source_intents),
            "knowledge_version": c.knowledge_version,
        }
        for c in reply.citations
    ]


def take_text_turn(
    brain: Brain, store: Store, session_id: str, text: str, channel: str = "text"
) -> BrainReply:
    """The customer's line is committed before the Brain runs, the reply before it is returned."""
    store.ensure_session(session_id, channel)
    store.record_turn(TurnRecord(session_id=session_id, speaker="customer", text=text))
    reply = brain.respond(session_id, text)
    store.record_turn(
        TurnRecord(
            session_id=session_id,
            speaker="bot",
            text=reply.text,
            decision=reply.decision.value,
            reason=reply.reason.value,
            confidence=reply.confidence,
            citations=citation_dicts(reply),
        )
    )
    return reply
