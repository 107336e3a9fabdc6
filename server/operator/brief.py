"""The hand-off brief: what an operator reads before joining, built from the masked transcript.

Numbers are never invented: every number in a narrative field must appear in the
transcript (``check_numeric_consistency``); ``build_brief`` drops whatever fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from server.brain.llm.numbers import Fact, facts, mentions, supported
from server.brain.pii import PLACEHOLDERS
from server.operator.queue import QueueReason, queue_reason
from server.tickets.extract import DATE_RE
from server.tickets.model import TranscriptRow

ProblemLookup = Callable[[str], str | None]  # problem id -> its standard question, or None

MAX_GOAL_CHARS = 240
MAX_BOT_TURN_CHARS = 280
_PLACEHOLDER_RE = re.compile(
    "|".join(re.escape(p).replace(re.escape("{last4}"), "[0-9]{4}") for p in PLACEHOLDERS.values())
)
_FILLER_RE = re.compile(
    r"\b(?:hi|hello|hey|hiya|good\s+(?:morning|afternoon|evening)|thanks|thank\s+you|please|ok|okay"
    r"|yes|yeah|no|sure|right|um+|uh+|er+)\b|\[asked for a person\]",
    re.IGNORECASE,
)
_WORD_RE = re.compile(r"[A-Za-z0-9£$€\[\]]+")
_SUBSTANTIVE_WORDS = 3


class HandoffBrief(BaseModel):
    """Product → scenario → problem, the goal, what was mentioned and said, and why."""

    model_config = ConfigDict(extra="forbid")

    session_id: str | None = None
    product: str | None = None
    scenario: str | None = None
    problem: str | None = None
    problem_title: str | None = None
    customer_goal: str = ""
    amounts: list[str] = Field(default_factory=list)  # money and percentages, as said
    dates: list[str] = Field(default_factory=list)
    account_hints: list[str] = Field(default_factory=list)  # masked placeholders
    bot_said: list[str] = Field(default_factory=list)  # the last bot turns, oldest first
    reason: QueueReason | None = None

    def narrative_fields(self) -> dict[str, str | list[str]]:
        """The free-text fields (checked for numeric consistency); ids are not narrative."""
        return {
            "problem_title": self.problem_title or "",
            "customer_goal": self.customer_goal,
            "amounts": self.amounts,
            "dates": self.dates,
            "account_hints": self.account_hints,
            "bot_said": self.bot_said,
        }


def _source(transcript_texts: Iterable[str]) -> set[Fact]:
    return {f for text in transcript_texts for f in facts(text)}


def _offending(text: str, source: set[Fact]) -> list[str]:
    return [surface for fact, surface in mentions(text) if not supported(fact, source)]


def check_numeric_consistency(brief: HandoffBrief, transcript_texts: Iterable[str]) -> list[str]:
    """Every number in the brief's narrative that the transcript lacks, as written in the brief."""
    source = _source(transcript_texts)
    bad: list[str] = []
    for value in brief.narrative_fields().values():
        for text in value if isinstance(value, list) else [value]:
            bad += _offending(text, source)
    return list(dict.fromkeys(bad))


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _clip(text: str, limit: int) -> str:
    """Cut at a space so no number is split into a different one."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit + 1].rsplit(" ", 1)[0] if " " in text[: limit + 1] else ""
    return f"{head} …" if head else ""


def _cited(rows: Sequence[TranscriptRow]) -> dict[str, object]:
    for wanted in (("answer", "handoff"), ("clarify",)):
        for row in reversed(rows):
            if row.speaker == "bot" and row.citations and row.decision in wanted:
                return row.citations[0]
    return {}


def _substantive(text: str) -> bool:
    return len(_WORD_RE.findall(_FILLER_RE.sub(" ", text))) >= _SUBSTANTIVE_WORDS


def _reason(rows: Sequence[TranscriptRow]) -> QueueReason | None:
    for row in reversed(rows):
        if row.speaker == "bot" and row.decision == "handoff":
            return queue_reason(row.reason)
    return None


def _str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def build_brief(
    rows: Sequence[TranscriptRow],
    lookup: ProblemLookup,
    *,
    session_id: str | None = None,
    reason: QueueReason | None = None,
    bot_turns: int = 3,
) -> HandoffBrief:
    """The brief for the masked ``rows`` (in order); ``reason`` defaults to the last hand-off's."""
    rows = list(rows)
    source = _source(r.text for r in rows)

    def ok(text: str) -> bool:
        return not _offending(text, source)

    cited = _cited(rows)
    problem = _str(cited.get("problem_id"))
    title = lookup(problem) if problem else None
    title = title if title and ok(title) else None
    customer = [r.text for r in rows if r.speaker == "customer"]
    goals = [_clip(t, MAX_GOAL_CHARS) for t in customer if _substantive(t)] + [title or ""]
    said = [_clip(r.text, MAX_BOT_TURN_CHARS) for r in rows if r.speaker == "bot"]
    amounts = (s for t in customer for f, s in mentions(t) if f.kind in ("money", "percent"))
    dates = (m.group().strip() for t in customer for m in DATE_RE.finditer(t))
    hints = (m.group() for t in customer for m in _PLACEHOLDER_RE.finditer(t))
    return HandoffBrief(
        session_id=session_id,
        product=_str(cited.get("product")),
        scenario=_str(cited.get("scenario")),
        problem=problem,
        problem_title=title,
        customer_goal=next((g for g in goals if g and ok(g)), ""),
        amounts=[a for a in _unique(amounts) if ok(a)],
        dates=[d for d in _unique(dates) if ok(d)],
        account_hints=[h for h in _unique(hints) if ok(h)],
        bot_said=[s for s in said[-bot_turns:] if s and ok(s)] if bot_turns > 0 else [],
        reason=reason if reason is not None else _reason(rows),
    )
