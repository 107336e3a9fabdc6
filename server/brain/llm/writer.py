"""Generative answers held to the knowledge, sentence by sentence.

``GenerativeWriter.stream_answer`` yields ``GuardedSentence`` objects as soon as each
generated sentence is complete and has passed the grounding guard, so TTS can start
before the answer is finished. A sentence that fails the guard is replaced by the
approved answer, once; later failing sentences are dropped. When the model fails
(server down, first token late, malformed stream) the approved answer is spoken
instead (or after what was already spoken, if it was not spoken yet).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from server.brain.generative import AnswerRequest
from server.brain.llm.client import ChatClient
from server.brain.llm.errors import LlmError
from server.brain.llm.guard import GroundingGuard, GuardCheck, GuardFailure
from server.brain.llm.prompt import KnowledgeItem, build_messages, system_rules
from server.brain.llm.sentences import SentenceSplitter

log = logging.getLogger(__name__)


class Source(StrEnum):
    GENERATED = "generated"
    APPROVED = "approved"


@dataclass(frozen=True)
class GuardedSentence:
    text: str
    source: Source
    cites: tuple[str, ...]
    replaced: GuardFailure | None = None  # why a generated sentence was replaced by the approved answer


@dataclass
class AnswerOutcome:
    sentences: list[GuardedSentence] = field(default_factory=list)
    ttft_ms: float | None = None  # first generated token
    error: str | None = None  # LlmError kind when generation failed
    guard_fired: list[GuardFailure] = field(default_factory=list)
    rejected: list[GuardCheck] = field(default_factory=list)  # the failing sentences (never logged)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


class GenerativeStats:
    """Counters over all answers of one writer (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.answers = 0
        self.sentences = 0
        self.guard_fired: Counter[str] = Counter()
        self.fallbacks: Counter[str] = Counter()

    def record(self, outcome: AnswerOutcome) -> None:
        with self._lock:
            self.answers += 1
            self.sentences += sum(1 for s in outcome.sentences if s.source is Source.GENERATED)
            self.guard_fired.update(f.value for f in outcome.guard_fired)
            if outcome.error:
                self.fallbacks[outcome.error] += 1

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {
                "answers": self.answers,
                "generated_sentences": self.sentences,
                "guard_fired": sum(self.guard_fired.values()),
                "guard_fired_by_reason": dict(self.guard_fired),
                "fallbacks": dict(self.fallbacks),
            }


def knowledge_items(request: AnswerRequest) -> list[KnowledgeItem]:
    return [
        KnowledgeItem(
            ref.problem.id, ref.problem.standard_question, ref.problem.answer, ref.problem.conditions
        )
        for ref in request.cited
    ]


class _Answer:
    """The guarding state of one answer, fed chunk by chunk."""

    def __init__(self, request: AnswerRequest, outcome: AnswerOutcome) -> None:
        self._request = request
        self._guard = GroundingGuard(knowledge_items(request), system_rules(request.bank))
        self._splitter = SentenceSplitter()
        self._approved_cites = tuple(ref.problem.id for ref in request.cited)
        self._approved_used = False
        self._started = time.perf_counter()
        self.outcome = outcome

    def _approved(self, replaced: GuardFailure | None) -> list[GuardedSentence]:
        if self._approved_used:
            return []
        self._approved_used = True
        return [GuardedSentence(self._request.approved, Source.APPROVED, self._approved_cites, replaced)]

    def _check(self, sentences: list[str]) -> list[GuardedSentence]:
        out: list[GuardedSentence] = []
        for sentence in sentences:
            check = self._guard.check(sentence)
            if check.ok:
                if check.text.strip(" .,;:!?-"):
                    out.append(GuardedSentence(check.text, Source.GENERATED, check.cites))
                continue
            assert check.failure is not None
            self.outcome.guard_fired.append(check.failure)
            self.outcome.rejected.append(check)
            log.info("grounding guard fired", extra={"reason": check.failure.value})
            out += self._approved(check.failure)
        self.outcome.sentences += out
        return out

    def feed(self, chunk: str) -> list[GuardedSentence]:
        if self.outcome.ttft_ms is None:
            self.outcome.ttft_ms = (time.perf_counter() - self._started) * 1000
        return self._check(self._splitter.feed(chunk))

    def finish(self) -> list[GuardedSentence]:
        out = self._check(self._splitter.flush())
        if not self.outcome.sentences:
            extra = self._approved(None)
            self.outcome.sentences += extra
            out += extra
        return out

    def fail(self, error: LlmError) -> list[GuardedSentence]:
        self.outcome.error = error.kind
        log.warning(
            "LLM failed; speaking the approved answer",
            extra={"kind": error.kind, "retryable": error.retryable, "error": type(error).__name__},
        )
        out = self._approved(None)
        self.outcome.sentences += out
        return out


class GenerativeWriter:
    """Words ANSWER replies with an LLM, under the grounding guard; an ``AnswerWriter``."""

    def __init__(self, client: ChatClient, *, history_turns: int = 6) -> None:
        self.client = client
        self.stats = GenerativeStats()
        self._history_turns = history_turns

    def messages(self, request: AnswerRequest) -> list[dict[str, str]]:
        return build_messages(
            bank=request.bank,
            knowledge=knowledge_items(request),
            history=request.history,
            question=request.question,
            customer_name=request.customer_name,
            history_turns=self._history_turns,
        )

    def iter_answer(
        self, request: AnswerRequest, outcome: AnswerOutcome | None = None
    ) -> Iterator[GuardedSentence]:
        """Blocking sentence-by-sentence answer (never raises ``LlmError``)."""
        answer = _Answer(request, outcome or AnswerOutcome())
        try:
            for chunk in self.client.stream(self.messages(request)):
                yield from answer.feed(chunk)
            yield from answer.finish()
        except LlmError as exc:
            yield from answer.fail(exc)
        self.stats.record(answer.outcome)

    def answer(self, request: AnswerRequest) -> AnswerOutcome:
        outcome = AnswerOutcome()
        for _ in self.iter_answer(request, outcome):
            pass
        return outcome

    def write(self, request: AnswerRequest) -> str:
        return self.answer(request).text

    async def stream_answer(
        self, request: AnswerRequest, outcome: AnswerOutcome | None = None
    ) -> AsyncGenerator[GuardedSentence, None]:
        """Sentences as they pass the guard; closing the generator closes the HTTP stream."""
        answer = _Answer(request, outcome or AnswerOutcome())
        try:
            async with contextlib.aclosing(self.client.astream(self.messages(request))) as chunks:
                async for chunk in chunks:
                    for sentence in answer.feed(chunk):
                        yield sentence
            for sentence in answer.finish():
                yield sentence
        except LlmError as exc:
            for sentence in answer.fail(exc):
                yield sentence
        self.stats.record(answer.outcome)
