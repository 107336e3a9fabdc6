"""The Brain: one customer turn in, one grounded reply out. Pure Python, no audio."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from knowledge.lexicon import Mention, named_products
from knowledge.retrieval import Candidate, Retrieval, Retriever
from knowledge.schema import WordKind
from server.brain.coverage import assess
from server.brain.followup import FollowUpContext, context_of, is_follow_up
from server.brain.generative import AnswerRequest, AnswerWriter
from server.brain.memory import MemoryStore, SessionMemory, Speaker, Turn
from server.brain.pii import MaskedText, mask_pii
from server.brain.policy import Decision, PolicyConfig, Reason, Verdict, decide
from server.brain.replies import reply_text
from server.brain.signals import Signals, read_signals


@dataclass(frozen=True)
class Citation:
    problem_id: str
    product: str
    scenario: str
    source_intents: tuple[str, ...]
    knowledge_version: int


@dataclass(frozen=True)
class BrainReply:
    session_id: str
    decision: Decision
    reason: Reason
    text: str
    confidence: float
    citations: tuple[Citation, ...]
    masked_question: str
    answer: AnswerRequest | None = None  # set when the caller words this ANSWER itself (streaming)


_ORDINALS = {
    0: re.compile(r"\b(?:first|former|1st|one|option 1|number 1)\b", re.I),
    1: re.compile(r"\b(?:second|latter|2nd|two|option 2|number 2|other one)\b", re.I),
}


def _cite(candidate: Candidate, version: int) -> Citation:
    ref = candidate.ref
    return Citation(
        problem_id=ref.problem.id,
        product=ref.product_id,
        scenario=ref.scenario_id,
        source_intents=tuple(ref.problem.source_intents),
        knowledge_version=version,
    )


class Brain:
    """Decides and words each turn; swap the retriever to serve a new knowledge version."""

    def __init__(
        self,
        retriever: Retriever,
        config: PolicyConfig,
        memory: MemoryStore,
        writer: AnswerWriter | None = None,
    ) -> None:
        self._retriever = retriever
        self._config = config
        self.memory = memory
        self.writer = writer  # words ANSWER replies generatively (brain.mode: generative)
        self._swap_lock = threading.Lock()

    @property
    def retriever(self) -> Retriever:
        return self._retriever

    def use_retriever(self, retriever: Retriever) -> None:
        with self.swapping() as swap:
            swap(retriever)

    @contextmanager
    def swapping(self) -> Iterator[Callable[[Retriever], None]]:
        """Hold the swap lock; the yielded function swaps the retriever.

        What the caller does inside (pointing the manifest at a version, checking it
        still names one) is ordered against every other swap of this Brain.
        """
        with self._swap_lock:
            yield self._set_retriever

    def _set_retriever(self, retriever: Retriever) -> None:
        self._retriever = retriever

    def respond(self, session_id: str, text: str, *, defer_wording: bool = False) -> BrainReply:
        """``defer_wording``: an ANSWER keeps the approved text and carries the writer's request.

        ``MaskedText`` is taken as it is; other text (the admin playground, benchmarks) is masked here.
        """
        masked = mask_pii(text)
        retriever = self._retriever
        memory = self.memory.get(session_id)
        verdict, retrieval = self._resolve_clarification(memory, masked, retriever)
        if verdict is None:
            verdict, retrieval = self._decide(memory, masked, retriever)
        reply = self._reply(session_id, masked, verdict, retrieval, retriever, defer_wording=defer_wording)
        self._remember(memory, reply, verdict)
        return reply

    def reworded(self, session_id: str, text: str) -> None:
        """A deferred answer was spoken as ``text``: remember that instead of the approved answer."""
        turns = self.memory.get(session_id).turns
        last = next((n for n in range(len(turns) - 1, -1, -1) if turns[n].speaker is Speaker.BOT), None)
        if last is not None:
            turns[last] = Turn(Speaker.BOT, text, turns[last].problem_id)

    def hear(
        self,
        session_id: str,
        speaker: Speaker,
        text: MaskedText | None,
        *,
        instead_of: BrainReply | None = None,
    ) -> None:
        """A turn the Brain did not produce: it remembers ``text`` as ``speaker``'s.

        That is a customer's line while a person answers, or an operator's line. ``instead_of``
        is a draft of the Brain's that was never said (the operator rewrote it as ``text``, or
        rejected it: ``text`` None): it leaves the memory, and a clarification it asked is no
        longer pending. A draft the operator approved was said as drafted: nothing to hear.
        """
        if speaker is Speaker.BOT:
            raise ValueError("the Brain's own replies are remembered by respond, not heard")
        memory = self.memory.get(session_id)
        if instead_of is not None:
            self._forget(memory, instead_of.text)
        if text is not None:
            memory.add(Turn(speaker, text))

    @staticmethod
    def _forget(memory: SessionMemory, text: str) -> None:
        """The last bot turn with exactly ``text`` leaves ``memory``; the customer's turn stays."""
        turns = memory.turns
        for n in range(len(turns) - 1, -1, -1):
            if turns[n].speaker is Speaker.BOT and turns[n].text == text:
                del turns[n]
                memory.pending_clarification = []
                memory.pending_question = ""
                return

    def request_handoff(self, session_id: str) -> BrainReply:
        """The customer pressed "talk to a person"."""
        retriever = self._retriever
        verdict = Verdict(Decision.HANDOFF, Reason.CUSTOMER_REQUEST)
        retrieval = Retrieval([], 0.0, frozenset(), retriever.version)
        reply = self._reply(session_id, "[asked for a person]", verdict, retrieval, retriever)
        self._remember(self.memory.get(session_id), reply, verdict)
        return reply

    def _decide(self, memory: SessionMemory, masked: str, retriever: Retriever) -> tuple[Verdict, Retrieval]:
        """Domain, coverage and ranking of one line (:mod:`server.brain.coverage`), a follow-up read
        against the conversation first (:mod:`server.brain.followup`)."""
        signals = read_signals(masked)
        mentions = retriever.lexicon.mentions(masked)
        follow_up = is_follow_up(masked)
        context = context_of(memory) if follow_up else None
        if context is not None and not signals.escalate:
            followed = self._follow_up(context, masked, mentions, signals, retriever)
            if followed is not None:
                return followed
        retrieval = retriever.retrieve(masked, mentions=mentions)
        conversing = follow_up and memory.on_banking
        assessment = assess(masked, mentions, retrieval, retriever, self._config, in_conversation=conversing)
        return decide(signals, assessment, memory.low_confidence_streak, self._config), assessment.retrieval

    def _follow_up(
        self,
        context: FollowUpContext,
        masked: str,
        mentions: list[Mention],
        signals: Signals,
        retriever: Retriever,
    ) -> tuple[Verdict, Retrieval] | None:
        """The line read with the question it follows, within the cited product (or the one it names)."""
        ref = retriever.ref(context.problem_id)
        if ref is None:
            return None
        named = named_products(mentions)
        earlier = retriever.lexicon.mentions(context.question)
        if named:  # "and for a credit card?": the earlier product is replaced, not added
            earlier = [m for m in earlier if not (m.kind is WordKind.ENTITY and m.word.product)]
        joined = f"{context.question} {masked}"
        retrieval = retriever.retrieve(joined, only_products=named or {ref.product_id})
        assessment = assess(
            joined, [*earlier, *mentions], retrieval, retriever, self._config, in_conversation=True
        )
        verdict = decide(signals, assessment, 0, self._config)
        if verdict.decision is Decision.ANSWER:
            return verdict, assessment.retrieval
        alone = assess(
            masked,
            mentions,
            retriever.retrieve(masked, mentions=mentions),
            retriever,
            self._config,
            in_conversation=True,
        )
        verdict = decide(signals, alone, 0, self._config)
        if verdict.decision is Decision.ANSWER or verdict.missing is not None:
            return verdict, alone.retrieval
        anchor = Candidate(ref, 0.0, 0.0, 0.0, False)
        return Verdict(Decision.CLARIFY, Reason.FOLLOW_UP, (anchor,)), alone.retrieval

    def _resolve_clarification(
        self, memory: SessionMemory, masked: str, retriever: Retriever
    ) -> tuple[Verdict | None, Retrieval]:
        empty = Retrieval([], 0.0, frozenset(), retriever.version)
        pending = [c for c in (retriever.ref(pid) for pid in memory.pending_clarification) if c]
        if len(pending) < 2:
            return None, empty
        named = retriever.lexicon.products(masked)
        chosen = [ref for ref in pending if ref.product_id in named]
        if len(chosen) != 1:
            lowered = masked.lower()
            chosen = [ref for ref in pending if ref.scenario_name.lower() in lowered] or [
                pending[n] for n, pattern in _ORDINALS.items() if n < len(pending) and pattern.search(masked)
            ]
        if len(chosen) != 1:
            retrieval = retriever.retrieve(
                f"{memory.pending_question} {masked}", only_products={r.product_id for r in pending}
            )
            best = retrieval.best
            if best is None or best.ref.problem.id not in {r.problem.id for r in pending}:
                return None, empty
            chosen = [best.ref]
        candidate = Candidate(chosen[0], 1.0, 1.0, 1.0, True)
        retrieval = Retrieval([candidate], 1.0, frozenset(named), retriever.version)
        return Verdict(Decision.ANSWER, Reason.CONFIDENT, (candidate,)), retrieval

    def _reply(
        self,
        session_id: str,
        masked: str,
        verdict: Verdict,
        retrieval: Retrieval,
        retriever: Retriever,
        *,
        defer_wording: bool = False,
    ) -> BrainReply:
        approved = reply_text(verdict, retriever.kb)
        request = self._answer_request(session_id, masked, verdict, retriever, approved)
        text = approved
        if request is not None and self.writer is not None and not defer_wording:
            text = self.writer.write(request)
        return BrainReply(
            session_id=session_id,
            decision=verdict.decision,
            reason=verdict.reason,
            text=text,
            confidence=round(retrieval.confidence, 4),
            citations=tuple(_cite(c, retrieval.knowledge_version) for c in verdict.candidates),
            masked_question=masked,
            answer=request if defer_wording else None,
        )

    def _answer_request(
        self, session_id: str, masked: str, verdict: Verdict, retriever: Retriever, approved: str
    ) -> AnswerRequest | None:
        """What a configured writer words an ANSWER from; None when the approved text is the reply."""
        if self.writer is None or verdict.decision is not Decision.ANSWER:
            return None
        return AnswerRequest(
            session_id=session_id,
            question=masked,
            cited=tuple(c.ref for c in verdict.candidates),
            history=tuple(self.memory.get(session_id).turns),
            approved=approved,
            bank=retriever.kb.name,
        )

    def _remember(self, memory: SessionMemory, reply: BrainReply, verdict: Verdict) -> None:
        memory.add(Turn(Speaker.CUSTOMER, reply.masked_question))
        answered = reply.citations[0].problem_id if reply.decision is Decision.ANSWER else None
        memory.add(Turn(Speaker.BOT, reply.text, answered))
        if verdict.reason is Reason.AMBIGUOUS:
            memory.pending_clarification = [c.problem_id for c in reply.citations]
            memory.pending_question = reply.masked_question
        else:
            memory.pending_clarification = []
            memory.pending_question = ""
        memory.on_banking = verdict.reason not in (Reason.OUT_OF_SCOPE, Reason.SMALL_TALK)
        low = verdict.reason in (Reason.LOW_CONFIDENCE, Reason.OUT_OF_SCOPE)
        memory.low_confidence_streak = memory.low_confidence_streak + 1 if low else 0
