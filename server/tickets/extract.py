"""The deterministic ticket: read from the masked transcript and the cited knowledge."""

from __future__ import annotations

import re
from collections.abc import Sequence

from knowledge.schema import RefFinder
from server.brain.llm.numbers import mentions
from server.tickets.model import Resolution, Ticket, TicketSource, TranscriptRow

DATE_RE = re.compile(
    r"\b(?:[0-9]{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\s+[0-9]{1,2}(?:st|nd|rd|th)?"
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{1,2}/[0-9]{1,2}(?:/[0-9]{2,4})?"
    r"|(?:yesterday|today|last\s+(?:week|month|night|monday|tuesday|wednesday|thursday|friday|saturday|sunday))"
    r"|[0-9]+\s+(?:days?|weeks?|months?)\s+ago"
    r"|(?:on\s+)?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday))\b",
    re.IGNORECASE,
)
_ACTIONS = {
    "answer": "Gave the approved answer ({pid})",
    "clarify": "Asked a clarifying question",
    "refuse": "Explained what the teller can help with",
    "handoff": "Handed the session to a colleague ({reason})",
}
MAX_GOAL_CHARS = 240


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _cited(rows: Sequence[TranscriptRow]) -> dict[str, object]:
    for row in reversed(rows):
        if row.speaker == "bot" and row.citations and row.decision in ("answer", "handoff"):
            return row.citations[0]
    return {}


def _goal(rows: Sequence[TranscriptRow]) -> str:
    customer = [r for r in rows if r.speaker == "customer"]
    for n, row in enumerate(rows):
        after = rows[n + 1] if n + 1 < len(rows) else None
        if row.speaker == "customer" and after is not None and after.decision in ("answer", "handoff"):
            return row.text[:MAX_GOAL_CHARS]
    return customer[0].text[:MAX_GOAL_CHARS] if customer else ""


def _resolution(rows: Sequence[TranscriptRow]) -> Resolution:
    decisions = [r.decision for r in rows if r.speaker == "bot" and r.decision]
    if "handoff" in decisions:
        return Resolution.HANDED_OFF
    last = decisions[-1] if decisions else None
    return {"answer": Resolution.ANSWERED, "clarify": Resolution.CLARIFYING}.get(
        last or "", Resolution.UNRESOLVED
    )


def _follow_up(rows: Sequence[TranscriptRow], resolution: Resolution) -> str:
    if resolution is Resolution.HANDED_OFF:
        reason = next((r.reason for r in reversed(rows) if r.decision == "handoff"), None) or "handoff"
        who = reason.replace("_", " ")
        return f"A colleague takes over ({who}); the customer should not need to repeat themselves."
    if resolution is Resolution.ANSWERED:
        return "None: answered from approved knowledge."
    return "Review the question: the knowledge did not answer it."


def build_ticket(
    transcript_rows: Sequence[TranscriptRow], kb: RefFinder, session_id: str | None = None
) -> Ticket:
    """A ticket for the session in ``transcript_rows`` (masked rows, in order)."""
    rows = list(transcript_rows)
    cited = _cited(rows)
    pid = str(cited["problem_id"]) if cited.get("problem_id") else None
    ref = kb.find_ref(pid, include_retired=True) if pid is not None else None
    actions = _unique([
        _ACTIONS[r.decision].format(
            pid=str(r.citations[0].get("problem_id")) if r.citations else "-",
            reason=(r.reason or "handoff").replace("_", " "),
        )
        for r in rows
        if r.speaker == "bot" and r.decision in _ACTIONS
    ])  # fmt: skip
    customer_text = [r.text for r in rows if r.speaker == "customer"]
    amounts = _unique([s for t in customer_text for f, s in mentions(t) if f.kind in ("money", "percent")])
    dates = _unique([m.group().strip() for t in customer_text for m in DATE_RE.finditer(t)])
    resolution = _resolution(rows)
    goal = _goal(rows)
    topic = f"{ref.product_name} / {ref.scenario_name}" if ref else "no matching knowledge"
    version = cited.get("knowledge_version")
    return Ticket(
        session_id=session_id,
        product=ref.product_id if ref else None,
        scenario=ref.scenario_id if ref else None,
        problem=pid,
        knowledge_version=version if isinstance(version, int) else None,
        customer_goal=goal,
        summary=f"{topic}: {resolution.value.replace('_', ' ')}.",
        actions_taken=actions,
        amounts=amounts,
        dates=dates,
        resolution=resolution,
        follow_up=_follow_up(rows, resolution),
        source=TicketSource.EXTRACTOR,
    )
