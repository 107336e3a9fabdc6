"""The decision for one customer turn: answer, clarify, hand off or refuse."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from knowledge.retrieval import Candidate, Retrieval
from server.brain.signals import Signals


class Decision(StrEnum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    HANDOFF = "handoff"
    REFUSE = "refuse"


class Reason(StrEnum):
    CONFIDENT = "confident"
    AMBIGUOUS = "ambiguous"
    SMALL_TALK = "small_talk"
    CUSTOMER_REQUEST = "customer_request"
    COMPLAINT = "complaint"
    URGENT = "urgent"
    LOW_CONFIDENCE = "low_confidence"
    OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True)
class PolicyConfig:
    answer_threshold: float = 0.5
    clarify_min_confidence: float = 0.25
    clarify_margin: float = 0.015
    generic_word_gap: float = 0.2
    low_confidence_handoff_after: int = 2


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: Reason
    candidates: tuple[Candidate, ...] = ()


def _distinct_branches(a: Candidate, b: Candidate) -> bool:
    return (a.ref.product_id, a.ref.scenario_id) != (b.ref.product_id, b.ref.scenario_id)


def _ambiguous(retrieval: Retrieval, config: PolicyConfig) -> tuple[Candidate, Candidate] | None:
    """Two strong candidates under different products/scenarios that the customer did not disambiguate."""
    if not retrieval.candidates:
        return None
    first = retrieval.candidates[0]
    for twin in retrieval.alternatives:
        if twin.dense >= first.dense - config.generic_word_gap:
            return first, twin
    if len(retrieval.candidates) < 2:
        return None
    second = retrieval.candidates[1]
    if first.named_product != second.named_product or not _distinct_branches(first, second):
        return None
    if first.ref.product_id == second.ref.product_id and retrieval.named_products:
        return None
    if first.score - second.score > config.clarify_margin:
        return None
    return first, second


def decide(
    signals: Signals, retrieval: Retrieval, low_confidence_streak: int, config: PolicyConfig
) -> Verdict:
    best = retrieval.best
    grounded = best is not None and retrieval.confidence >= config.clarify_min_confidence
    cite = (best,) if grounded and best is not None else ()
    if signals.urgent:
        return Verdict(Decision.HANDOFF, Reason.URGENT, cite)
    if signals.wants_human:
        return Verdict(Decision.HANDOFF, Reason.CUSTOMER_REQUEST, cite)
    if signals.complaint:
        return Verdict(Decision.HANDOFF, Reason.COMPLAINT, cite)
    if (signals.greeting or signals.thanks) and retrieval.confidence < config.answer_threshold:
        return Verdict(Decision.CLARIFY, Reason.SMALL_TALK)
    pair = _ambiguous(retrieval, config) if grounded else None
    if pair is not None:
        return Verdict(Decision.CLARIFY, Reason.AMBIGUOUS, pair)
    if best is not None and retrieval.confidence >= config.answer_threshold:
        return Verdict(Decision.ANSWER, Reason.CONFIDENT, (best,))
    if low_confidence_streak + 1 >= config.low_confidence_handoff_after:
        return Verdict(Decision.HANDOFF, Reason.LOW_CONFIDENCE)
    return Verdict(Decision.REFUSE, Reason.OUT_OF_SCOPE if not grounded else Reason.LOW_CONFIDENCE)
