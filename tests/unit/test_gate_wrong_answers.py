"""The regression gate also compares how often each version *answers* with the wrong problem."""

from __future__ import annotations

from dataclasses import dataclass, field

from knowledge.retrieval import Candidate, Retrieval, Retriever
from knowledge.schema import Problem, ProblemRef
from knowledge.versions import RegressionQuestion, run_gate


def _candidate(pid: str) -> Candidate:
    problem = Problem(id=pid, standard_question=f"{pid}?", answer=f"Approved answer for {pid}.")
    ref = ProblemRef(problem=problem, product_id="p", product_name="P", scenario_id="s", scenario_name="S")
    return Candidate(ref, 0.9, 0.9, 0.0, False)


@dataclass
class FakeRetriever:
    """Ranks ``best[text]`` first; answers (as the teller would) with ``answers[text]``."""

    best: dict[str, str]
    answers: dict[str, str | None]
    refs: list[ProblemRef] = field(default_factory=list)

    def retrieve(self, text: str) -> Retrieval:
        return Retrieval([_candidate(self.best[text])], 0.9, frozenset(), 1)


def answered(retriever: Retriever, text: str) -> str | None:
    return retriever.answers[text]  # type: ignore[attr-defined]


QUESTIONS = [RegressionQuestion(f"q{n}", "right", "golden") for n in range(10)]


def test_same_top1_but_more_wrong_answers_is_blocked() -> None:
    ranked = {q.text: "right" for q in QUESTIONS}
    live = FakeRetriever(ranked, {q.text: "right" for q in QUESTIONS})
    # The candidate ranks every question right, but its decision answers three with another problem.
    wrong = {q.text: ("other" if n < 3 else "right") for n, q in enumerate(QUESTIONS)}
    candidate = FakeRetriever(ranked, wrong)
    report = run_gate(candidate, live, QUESTIONS, 0.02, answered)  # type: ignore[arg-type]
    assert report.candidate_accuracy == report.live_accuracy == 1.0
    assert (report.live_wrong_answers, report.candidate_wrong_answers) == (0.0, 0.3)
    assert not report.passed and "wrong answers 30.0%" in report.summary()


def test_declining_to_answer_is_not_a_wrong_answer() -> None:
    ranked = {q.text: "right" for q in QUESTIONS}
    live = FakeRetriever(ranked, {q.text: "right" for q in QUESTIONS})
    candidate = FakeRetriever(ranked, {q.text: None for q in QUESTIONS})
    report = run_gate(candidate, live, QUESTIONS, 0.02, answered)  # type: ignore[arg-type]
    assert report.candidate_wrong_answers == 0.0 and report.passed
