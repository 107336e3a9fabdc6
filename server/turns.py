"""One text turn end to end: record the question, decide, record the reply."""

from __future__ import annotations

import uuid
from typing import Any

from server.brain.brain import Brain, BrainReply
from server.store.store import Store, TurnRecord
from server.tickets.service import reply_recorded


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


def record_reply(store: Store, reply: BrainReply, *, spoken: bool, speaker: str = "bot") -> int:
    """Commit the bot's reply; ``spoken`` when it is shown as text (a voice reply is settled later).

    ``speaker`` is ``operator`` for a draft reply an operator edited before it was spoken.
    """
    seq = store.record_turn(
        TurnRecord(
            session_id=reply.session_id,
            speaker=speaker,
            text=reply.text,
            spoken_text=reply.text if spoken else None,
            decision=reply.decision.value,
            reason=reply.reason.value,
            confidence=reply.confidence,
            citations=citation_dicts(reply),
        )
    )
    reply_recorded(store, reply)  # a hand-off queues its ticket (written off this path)
    return seq


def record_customer_turn(store: Store, session_id: str, text: str, channel: str) -> int:
    store.ensure_session(session_id, channel)
    return store.record_turn(TurnRecord(session_id=session_id, speaker="customer", text=text))


def take_text_turn(
    brain: Brain, store: Store, session_id: str, text: str, channel: str = "text"
) -> BrainReply:
    """The customer's line is committed before the Brain runs, the reply before it is returned."""
    record_customer_turn(store, session_id, text, channel)
    reply = brain.respond(session_id, text)
    record_reply(store, reply, spoken=True)
    return reply
