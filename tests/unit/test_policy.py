"""The decision policy, on hand-made retrieval results (``fake_assessment`` builds them)."""

from __future__ import annotations

from knowledge.retrieval import Candidate, Retrieval
from knowledge.schema import Problem, ProblemRef
from server.brain.policy import Assessment, Decision, PolicyConfig, Reason, decide
from server.brain.signals import Signals, read_signals

CONFIG = PolicyConfig(answer_threshold=0.5, clarify_min_confidence=0.25, clarify_margin=0.04)


def _candidate(pid: str, product: str, scenario: str, score: float, named: bool = False) -> Candidate:
    problem = Problem(id=pid, standard_question=f"{pid}?", answer=f"Approved answer for {pid}.")
    ref = ProblemRef(
        problem=problem,
        product_id=product,
        product_name=product,
        scenario_id=scenario,
        scenario_name=scenario,
    )
    return Candidate(ref, score, score, 0.0, named)


def fake_retrieval(
    confidence: float,
    *candidates: Candidate,
    named: frozenset[str] = frozenset(),
    in_domain: bool = True,
) -> Assessment:
    """A line about banking (unless ``in_domain`` is False) whose candidates all passed the check."""
    return Assessment(in_domain, Retrieval(list(candidates), confidence, named, 1))


LOST_DEBIT = _candidate("lost_debit", "debit_card", "security", 0.80)
LOST_CREDIT = _candidate("lost_credit", "credit_card", "security_cc", 0.79)
FAR = _candidate("exchange", "fx", "rates", 0.50)


def test_confident_answer() -> None:
    verdict = decide(Signals(), fake_retrieval(0.9, LOST_DEBIT, FAR), 0, CONFIG)
    assert (verdict.decision, verdict.candidates) == (Decision.ANSWER, (LOST_DEBIT,))


def test_close_candidates_on_different_products_clarify() -> None:
    verdict = decide(Signals(), fake_retrieval(0.6, LOST_DEBIT, LOST_CREDIT), 0, CONFIG)
    assert verdict.decision is Decision.CLARIFY and verdict.reason is Reason.AMBIGUOUS
    assert verdict.candidates == (LOST_DEBIT, LOST_CREDIT)


def test_a_named_product_removes_the_ambiguity() -> None:
    named = _candidate("lost_credit", "credit_card", "security_cc", 0.87, named=True)
    retrieval = fake_retrieval(0.9, named, LOST_DEBIT, named=frozenset({"credit_card"}))
    assert decide(Signals(), retrieval, 0, CONFIG).decision is Decision.ANSWER


def test_a_bank_line_nothing_answers_is_not_covered_never_off_topic() -> None:
    for streak in (0, 1):
        verdict = decide(Signals(), fake_retrieval(0.1, FAR), streak, CONFIG)
        assert (verdict.decision, verdict.reason) == (Decision.HANDOFF, Reason.NOT_COVERED)


def test_an_off_domain_line_is_refused_even_when_retrieval_is_sure() -> None:
    verdict = decide(Signals(), fake_retrieval(0.95, LOST_DEBIT, in_domain=False), 0, CONFIG)
    assert (verdict.decision, verdict.reason) == (Decision.REFUSE, Reason.OUT_OF_SCOPE)


def test_refused_twice_in_a_row_a_person_looks() -> None:
    """In case the domain check is wrong about this customer: the second refusal is a hand-off."""
    verdict = decide(Signals(), fake_retrieval(0.1, FAR, in_domain=False), 1, CONFIG)
    assert (verdict.decision, verdict.reason) == (Decision.HANDOFF, Reason.LOW_CONFIDENCE)


def test_without_the_domain_check_low_confidence_refuses_then_hands_off() -> None:
    config = PolicyConfig(answer_threshold=0.5, check_domain=False)
    assessment = fake_retrieval(0.1, FAR, in_domain=False)
    assert decide(Signals(), assessment, 0, config).decision is Decision.REFUSE
    verdict = decide(Signals(), assessment, 1, config)
    assert (verdict.decision, verdict.reason) == (Decision.HANDOFF, Reason.LOW_CONFIDENCE)


def test_a_security_action_reaches_a_person_first() -> None:
    verdict = decide(
        read_signals("please put a freeze on my whole account"), fake_retrieval(0.9, FAR), 0, CONFIG
    )
    assert (verdict.decision, verdict.reason) == (Decision.HANDOFF, Reason.SECURITY)


def test_escalation_wins_over_a_confident_answer() -> None:
    retrieval = fake_retrieval(0.95, LOST_DEBIT)
    for text, reason in [
        ("my card was stolen", Reason.URGENT),
        ("let me speak to a person", Reason.CUSTOMER_REQUEST),
        ("I want to make a complaint", Reason.COMPLAINT),
    ]:
        verdict = decide(read_signals(text), retrieval, 0, CONFIG)
        assert (verdict.decision, verdict.reason) == (Decision.HANDOFF, reason)


def test_urgent_handoff_cites_only_when_grounded() -> None:
    assert decide(read_signals("card stolen"), fake_retrieval(0.9, LOST_DEBIT), 0, CONFIG).candidates
    assert not decide(read_signals("fraud!"), fake_retrieval(0.05, FAR), 0, CONFIG).candidates


def test_greeting_is_small_talk_not_a_refusal() -> None:
    verdict = decide(read_signals("hello"), fake_retrieval(0.1, FAR), 0, CONFIG)
    assert (verdict.decision, verdict.reason) == (Decision.CLARIFY, Reason.SMALL_TALK)
