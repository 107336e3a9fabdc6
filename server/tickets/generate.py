"""Tickets written by the LLM when one is configured, always validated against the transcript.

The structured fields (product, scenario, problem, amounts, dates, resolution) come from the
deterministic extractor; the LLM words the narrative (goal, summary, follow-up). A narrative
field that holds a number the transcript lacks is replaced by the extractor's (``repair``);
if the model fails or answers without valid JSON, the extractor's ticket is used as is.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence

from knowledge.schema import RefFinder
from server.brain.llm.client import ChatClient
from server.brain.llm.errors import LlmError, LlmMalformed
from server.brain.llm.prompt import clean_customer_text
from server.tickets.extract import build_ticket
from server.tickets.model import Ticket, TicketSource, TranscriptRow
from server.tickets.validate import repair

log = logging.getLogger(__name__)

TICKET_RULES = (
    "You write a short hand-over note for a bank colleague from the conversation below. "
    "Answer with one JSON object only, with the string keys customer_goal, summary and follow_up. "
    "Use only facts, amounts and dates written in the conversation."
)
_FIELDS = ("customer_goal", "summary", "follow_up")
_JSON_RE = re.compile(r"\{.*\}", re.DOTALL)
MAX_TRANSCRIPT_LINES = 16


def ticket_messages(rows: Sequence[TranscriptRow]) -> list[dict[str, str]]:
    lines = [
        f"{'Customer' if r.speaker == 'customer' else 'Teller'}: {clean_customer_text(r.text)}"
        for r in list(rows)[-MAX_TRANSCRIPT_LINES:]
    ]
    return [{"role": "system", "content": TICKET_RULES}, {"role": "user", "content": "\n".join(lines)}]


def parse_narrative(raw: str) -> dict[str, str]:
    """The narrative fields of the model's JSON; ``LlmMalformed`` when there are none."""
    match = _JSON_RE.search(raw)
    try:
        data = json.loads(match.group()) if match else None
    except ValueError as exc:
        raise LlmMalformed("ticket is not valid JSON") from exc
    if not isinstance(data, dict):
        raise LlmMalformed("ticket is not a JSON object")
    fields = {
        k: " ".join(str(data[k]).split())[:400] for k in _FIELDS if isinstance(data.get(k), str | int | float)
    }
    if not fields:
        raise LlmMalformed("ticket JSON has none of the expected fields")
    return fields


def write_ticket(
    rows: Sequence[TranscriptRow],
    kb: RefFinder,
    session_id: str | None = None,
    client: ChatClient | None = None,
) -> Ticket:
    """The ticket for a closed or handed-off session; numerically consistent by construction."""
    base = build_ticket(rows, kb, session_id)
    if client is None:
        return base
    try:
        narrative = parse_narrative(client.complete(ticket_messages(rows), max_tokens=160))
    except LlmError as exc:
        log.warning(
            "LLM ticket failed; using the extractor", extra={"kind": exc.kind, "retryable": exc.retryable}
        )
        return base
    drafted = base.model_copy(update={**narrative, "source": TicketSource.LLM})
    fixed, bad = repair(drafted, base, rows)
    if bad:
        log.info("LLM ticket repaired", extra={"fields": bad})
        fixed = fixed.model_copy(update={"source": TicketSource.LLM_REPAIRED})
    return fixed
