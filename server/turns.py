"""One text turn end to end: decide, then record the question and the reply together.

A text turn's question enters here (``/api/v1/ask``, ``teller ask``): it is masked once
(with the session's previous line when it goes on with a number, ``server.turn_digits``),
and the Brain and the store take the masked line as it is.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from server.brain.brain import Brain, BrainReply
from server.brain.pii import MaskedText
from server.store.store import Store, TurnRecord
from server.tickets.service import TicketSink
from server.turn_digits import Amend, SessionDigits


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


def reply_turn(
    reply: BrainReply, *, spoken: bool, speaker: str = "bot", operator: str | None = None
) -> TurnRecord:
    """The stored form of the bot's reply; ``spoken`` when it is shown as text (a voice reply
    is settled later). ``speaker`` is ``operator`` for a draft an operator edited; ``operator``
    names the operator who edited or approved it."""
    return TurnRecord(
        session_id=reply.session_id,
        speaker=speaker,
        text=reply.text,
        spoken_text=reply.text if spoken else None,
        decision=reply.decision.value,
        reason=reply.reason.value,
        confidence=reply.confidence,
        citations=citation_dicts(reply),
        operator=operator,
    )


def record_reply(
    store: Store,
    reply: BrainReply,
    *,
    spoken: bool,
    speaker: str = "bot",
    tickets: TicketSink | None = None,
    operator: str | None = None,
) -> int:
    """Commit the bot's reply (see ``reply_turn``) and return its sequence number."""
    seq = store.record_turn(reply_turn(reply, spoken=spoken, speaker=speaker, operator=operator))
    if tickets is not None:
        tickets.reply_recorded(reply)  # a hand-off queues its ticket (written off this path)
    return seq


def _customer_turn(session_id: str, text: MaskedText) -> TurnRecord:
    return TurnRecord(session_id=session_id, speaker="customer", text=text)


def record_customer_turn(
    store: Store, session_id: str, text: MaskedText, channel: str, amends: Sequence[Amend] = ()
) -> int:
    """Commit the customer's (masked) line, creating the session when new, in one transaction;
    ``amends`` re-mask earlier customer turns it continues (``server.turn_digits``)."""
    return store.record_turns([_customer_turn(session_id, text)], channel=channel, amend=amends)[0]


#: The text sessions' customer turns that end in a number (``server.turn_digits``).
TEXT_DIGITS = SessionDigits()


def take_text_turn(
    brain: Brain,
    store: Store,
    session_id: str,
    text: str,
    channel: str = "text",
    *,
    tickets: TicketSink | None = None,
    digits: SessionDigits = TEXT_DIGITS,
) -> BrainReply:
    """The customer's line and the reply are committed together, in one transaction, before
    the reply is returned. Nothing is acknowledged before that commit; if the Brain fails,
    the customer's line is committed alone and the error goes on. A number the customer began
    in their previous line and goes on with here is masked in both (``server.turn_digits``)."""
    pending = digits.get(session_id)
    line = pending.mask(text)
    masked = line.text
    try:
        reply = brain.respond(session_id, masked)
    except Exception:
        pending.stored(line, record_customer_turn(store, session_id, masked, channel, line.amends))
        raise
    turns = [_customer_turn(session_id, masked), reply_turn(reply, spoken=True)]
    pending.stored(line, store.record_turns(turns, channel=channel, amend=line.amends)[0])
    if tickets is not None:
        tickets.reply_recorded(reply)  # a hand-off queues its ticket (written off this path)
    return reply
