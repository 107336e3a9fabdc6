"""The decision for one customer turn: answer, clarify, hand off or refuse."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from knowledge.concepts import Conflict
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
    NOT_COVERED = "not_covered"  # about banking, but no approved problem answers it
    SECURITY = "security"  # freeze, block, unlock an account: a person acts on it, first
    FOLLOW_UP = "follow_up"  # a follow-up the conversation does not settle: asked to say more
    ACCOUNT_DATA = "account_data"  # the customer's own live data, which only a person can look up


@dataclass(frozen=True)
class PolicyConfig:
    answer_threshold: float = 0.5
    clarify_min_confidence: float = 0.25
    clarify_margin: float = 0.015
    generic_word_gap: float = 0.2
    low_confidence_handoff_after: int = 2
    unanchored_min_confidence: float = 0.9  # no banking word: in the domain only when this sure
    check_concepts: bool = True  # the answer check (knowledge.concepts); off = nearest answers
    check_domain: bool = True  # refuse only off-domain lines; off = refuse whatever is unsure
    own_data_min_confidence: float = 0.9


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: Reason
    candidates: tuple[Candidate, ...] = ()
    missing: str | None = None  # NOT_COVERED: the concept no approved problem is about


@dataclass(frozen=True)
class Assessment:
    """The three questions about one line: domain, coverage, ranking (see :mod:`server.brain.coverage`).

    ``retrieval`` holds only the candidates that address the line, best first; ``conflict`` says
    why the nearest problem did not (None when it does, or when nothing was found).
    """

    in_domain: bool
    retrieval: Retrieval
    conflict: Conflict | None = None
    best_same_action: bool = True  # the best candidate is about an action the line asks for


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
    signals: Signals, assessment: Assessment, low_confidence_streak: int, config: PolicyConfig
) -> Verdict:
    retrieval = assessment.retrieval
    best = retrieval.best
    grounded = best is not None and retrieval.confidence >= config.clarify_min_confidence
    cite = (best,) if grounded and best is not None else ()
    if signals.urgent:
        return Verdict(Decision.HANDOFF, Reason.URGENT, cite)
    if signals.security:  # its steps go first only when they are about what was asked
        return Verdict(Decision.HANDOFF, Reason.SECURITY, cite if assessment.best_same_action else ())
    if signals.wants_human:
        return Verdict(Decision.HANDOFF, Reason.CUSTOMER_REQUEST, cite)
    if signals.complaint:
        return Verdict(Decision.HANDOFF, Reason.COMPLAINT, cite)
    if (signals.greeting or signals.thanks) and retrieval.confidence < config.answer_threshold:
        return Verdict(Decision.CLARIFY, Reason.SMALL_TALK)
    if config.check_domain and not assessment.in_domain:
        if low_confidence_streak + 1 >= config.low_confidence_handoff_after:
            return Verdict(Decision.HANDOFF, Reason.LOW_CONFIDENCE)  # refused twice: a person looks
        return Verdict(Decision.REFUSE, Reason.OUT_OF_SCOPE)
    pair = _ambiguous(retrieval, config) if grounded else None
    if pair is not None:
        return Verdict(Decision.CLARIFY, Reason.AMBIGUOUS, pair)
    # The customer's own data: answered from the knowledge ("it's on Home in the app") only when sure.
    threshold = config.own_data_min_confidence if signals.own_data else config.answer_threshold
    if best is not None and retrieval.confidence >= threshold:
        return Verdict(Decision.ANSWER, Reason.CONFIDENT, (best,))
    if assessment.in_domain and signals.own_data:
        return Verdict(Decision.HANDOFF, Reason.ACCOUNT_DATA)
    if assessment.in_domain:
        missing = assessment.conflict.concept if assessment.conflict is not None else None
        return Verdict(Decision.HANDOFF, Reason.NOT_COVERED, missing=missing)
    if low_confidence_streak + 1 >= config.low_confidence_handoff_after:
        return Verdict(Decision.HANDOFF, Reason.LOW_CONFIDENCE)
    return Verdict(Decision.REFUSE, Reason.OUT_OF_SCOPE if not grounded else Reason.LOW_CONFIDENCE)
