"""Checks before a problem is saved: empty answer, duplicates, collisions with other problems."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from knowledge.schema import KnowledgeBase
from knowledge.versions import normalise

MIN_ANSWER = 10
Nearest = Callable[[str], list[tuple[str, float]]]
"""``text -> [(problem_id, cosine similarity), ...]`` from the live index, best first."""


class Level(StrEnum):
    ERROR = "error"  # blocks the save
    WARNING = "warning"  # saved only when the editor confirms


@dataclass(frozen=True)
class Issue:
    level: Level
    message: str


def check_problem(
    kb: KnowledgeBase,
    *,
    problem_id: str,
    standard_question: str,
    similar_questions: list[str],
    answer: str,
    nearest: Nearest | None,
    threshold: float,
) -> list[Issue]:
    issues: list[Issue] = []
    if len(answer.strip()) < MIN_ANSWER:
        issues.append(
            Issue(Level.ERROR, f"the approved answer is empty or shorter than {MIN_ANSWER} characters")
        )
    if len(standard_question.strip()) < 3:
        issues.append(Issue(Level.ERROR, "the standard question is empty"))
    seen: dict[str, str] = {normalise(standard_question): standard_question}
    for question in similar_questions:
        key = normalise(question)
        if key in seen:
            issues.append(Issue(Level.WARNING, f"duplicate similar question: {question!r}"))
        seen[key] = question
    owner = {
        normalise(q): ref.problem.id
        for ref in kb.problem_refs()
        if ref.problem.id != problem_id
        for q in ref.problem.questions
    }
    mine = [q for q in [standard_question, *similar_questions] if q.strip()]
    for question in mine:
        if normalise(question) in owner:
            issues.append(
                Issue(
                    Level.WARNING,
                    f"{question!r} is already a question of problem {owner[normalise(question)]}",
                )
            )
    if nearest is not None:
        for question in mine:
            if normalise(question) in owner:
                continue
            for other_id, similarity in nearest(question):
                if other_id != problem_id and similarity >= threshold:
                    issues.append(
                        Issue(
                            Level.WARNING,
                            f"{question!r} is {similarity:.2f} similar to a question of problem {other_id}",
                        )
                    )
                    break
    return issues
