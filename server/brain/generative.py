"""The seam between the Brain and a generative answer writer (``server.brain.llm``).

The Brain decides; for an ANSWER decision a configured writer words the reply from the
cited knowledge. The writer must never raise: on any failure it returns the approved answer.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol

from knowledge.schema import ProblemRef
from server.brain.memory import Turn


@dataclass(frozen=True)
class AnswerRequest:
    session_id: str
    question: str  # masked
    cited: tuple[ProblemRef, ...]
    history: tuple[Turn, ...]  # masked, oldest first, without this turn
    approved: str  # the approved answer: the fallback, spoken verbatim
    bank: str
    customer_name: str | None = None


class SpokenSentence(Protocol):
    """One sentence of a streamed answer, already held to the knowledge."""

    @property
    def text(self) -> str: ...


class AnswerWriter(Protocol):
    def write(self, request: AnswerRequest) -> str:
        """The reply text for ``request``; the approved answer when generation fails."""
        ...

    def stream_answer(self, request: AnswerRequest) -> AsyncGenerator[SpokenSentence, None]:
        """The reply sentence by sentence as each is ready; closing it cancels the generation."""
        ...
