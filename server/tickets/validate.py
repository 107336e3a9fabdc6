"""Numeric consistency: every number, amount and date in a ticket appears in the transcript."""

from __future__ import annotations

from collections.abc import Sequence

from server.brain.llm.numbers import Fact, facts, supported
from server.tickets.model import Ticket, TranscriptRow


def transcript_facts(rows: Sequence[TranscriptRow]) -> set[Fact]:
    return {f for row in rows for f in facts(row.text)}


def _text_ok(text: str, source: set[Fact]) -> bool:
    return all(supported(f, source) for f in facts(text))


def unsupported_fields(ticket: Ticket, rows: Sequence[TranscriptRow]) -> list[str]:
    """Names of the ticket's free-text fields holding a number the transcript does not."""
    source = transcript_facts(rows)
    bad: list[str] = []
    for name, value in ticket.narrative_fields().items():
        texts = value if isinstance(value, list) else [value]
        if not all(_text_ok(t, source) for t in texts):
            bad.append(name)
    return bad


def numerically_consistent(ticket: Ticket, rows: Sequence[TranscriptRow]) -> bool:
    return not unsupported_fields(ticket, rows)


def repair(ticket: Ticket, fallback: Ticket, rows: Sequence[TranscriptRow]) -> tuple[Ticket, list[str]]:
    """Replace every inconsistent field of ``ticket`` by ``fallback``'s; drop list items that stay bad."""
    bad = unsupported_fields(ticket, rows)
    if not bad:
        return ticket, []
    fixed = ticket.model_copy(update={name: getattr(fallback, name) for name in bad})
    source = transcript_facts(rows)
    for name, value in fixed.narrative_fields().items():
        if isinstance(value, list):
            fixed = fixed.model_copy(update={name: [v for v in value if _text_ok(v, source)]})
        elif not _text_ok(value, source):
            fixed = fixed.model_copy(update={name: ""})
    return fixed, bad
