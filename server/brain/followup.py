"""Follow-up lines read against the conversation: "and how long does that take?" (issue #17).

Customers speak in follow-ups: a short line, or one that refers back ("it",
"that", "and for a credit card?", "what if I'm abroad?"), means "the same
subject as the answer just given". :func:`context_of` finds that subject in the
session's memory: the last answered problem and the customer's question that
led to it. The Brain then retrieves with the earlier question and the new line
together, within the cited product (or the product the new line names, for
"and for a credit card?"), and checks the result as any other line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from server.brain.memory import SessionMemory, Speaker

MAX_WORDS = 10
SHORT_WORDS = 7  # a line this short follows the conversation even without a referring word
RECENT_TURNS = 4  # the answer must be among the last few turns (two exchanges)

_REFERRING = re.compile(
    r"^\s*(?:and|but|also|so|then|ok(?:ay)?|what\s+(?:about|if)|how\s+about|and\s+if|even\s+if|"
    r"same\s+for|is\s+that|does\s+that|will\s+that|can\s+i\s+do\s+(?:it|that|this))\b"
    r"|\b(?:it|that|this|they|them|those|these|one|there|same)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[\w'£€$]+")


@dataclass(frozen=True)
class FollowUpContext:
    """The subject a follow-up line refers to."""

    problem_id: str
    question: str  # the customer's line that the cited answer answered (masked)


def is_follow_up(text: str) -> bool:
    """A short line, or one that refers back to what was just said."""
    words = _WORD.findall(text)
    return (0 < len(words) <= MAX_WORDS and bool(_REFERRING.search(text))) or 0 < len(words) <= 4


def context_of(memory: SessionMemory) -> FollowUpContext | None:
    """The last answered problem among the recent turns, and the question it answered."""
    turns = memory.turns[-RECENT_TURNS:]
    for n in range(len(turns) - 1, -1, -1):
        turn = turns[n]
        if turn.speaker is Speaker.BOT and turn.problem_id is not None:
            question = next((t.text for t in reversed(turns[:n]) if t.speaker is Speaker.CUSTOMER), "")
            return FollowUpContext(turn.problem_id, question)
        if turn.speaker is Speaker.OPERATOR:
            return None  # a person has spoken since: their words are not in the graph
    return None
