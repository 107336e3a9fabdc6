"""Knowledge versions: held-back regression questions, the publish gate, release records.

A publish indexes a draft without a fixed, hash-chosen share of each problem's
similar questions; those held-back questions (plus the team's golden set) are
the regression set. The candidate version must answer them (top-1) about as
well as the live version, or the publish is blocked. Which questions are held
back depends only on their text, so two versions hold back the same ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from knowledge.index import KnowledgeIndex
from knowledge.retrieval import Retriever
from knowledge.schema import KnowledgeBase


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def is_held_back(text: str, percent: int) -> bool:
    digest = hashlib.sha256(normalise(text).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


@dataclass(frozen=True)
class RegressionQuestion:
    text: str
    problem_id: str
    source: str  # "holdout" or "golden"


def split_holdout(kb: KnowledgeBase, percent: int) -> tuple[KnowledgeBase, list[RegressionQuestion]]:
    """``(kb to index, held-back questions)``: the standard question is never held back."""
    held: list[RegressionQuestion] = []
    data = kb.model_dump(mode="python")
    live = {ref.problem.id for ref in kb.problem_refs()}
    for product in data["products"]:
        for scenario in product["scenarios"]:
            for problem in scenario["problems"]:
                keep: list[str] = []
                for question in problem["similar_questions"]:
                    if is_held_back(question, percent) and problem["id"] in live:
                        held.append(RegressionQuestion(question, problem["id"], "holdout"))
                    else:
                        keep.append(question)
                problem["similar_questions"] = keep
    return KnowledgeBase.model_validate(data), held


@dataclass(frozen=True)
class Miss:
    text: str
    expected: str
    candidate: str | None
    live: str | None


@dataclass(frozen=True)
class GateReport:
    questions: int
    live_accuracy: float | None
    candidate_accuracy: float
    max_drop: float
    misses: list[Miss] = field(default_factory=list)
    # The teller's own decision on the same questions (issue #17): answered with another problem.
    live_wrong_answers: float | None = None
    candidate_wrong_answers: float | None = None

    @property
    def passed(self) -> bool:
        if self.live_accuracy is None:
            return True
        if self.live_accuracy - self.candidate_accuracy > self.max_drop + 1e-9:
            return False
        if self.live_wrong_answers is None or self.candidate_wrong_answers is None:
            return True
        return self.candidate_wrong_answers - self.live_wrong_answers <= self.max_drop + 1e-9

    def summary(self) -> str:
        live = "n/a" if self.live_accuracy is None else f"{self.live_accuracy:.1%}"
        verdict = "passed" if self.passed else "BLOCKED"
        wrong = ""
        if self.candidate_wrong_answers is not None:
            was = "n/a" if self.live_wrong_answers is None else f"{self.live_wrong_answers:.1%}"
            wrong = f", wrong answers {self.candidate_wrong_answers:.1%} (live {was})"
        return (
            f"regression gate {verdict}: top-1 {self.candidate_accuracy:.1%} (live {live}){wrong} "
            f"on {self.questions} questions, allowed drop {self.max_drop:.1%}"
        )


def top1(retriever: Retriever, text: str) -> str | None:
    best = retriever.retrieve(text).best
    return best.ref.problem.id if best is not None else None


# The problem the teller would answer ``text`` with on a retriever (None: it would not answer).
Answerer = Callable[[Retriever, str], str | None]


def run_gate(
    candidate: Retriever,
    live: Retriever | None,
    questions: list[RegressionQuestion],
    max_drop: float,
    answered: Answerer | None = None,
) -> GateReport:
    """Compare top-1 accuracy; held-back questions the live index contains verbatim are skipped.

    With ``answered`` (the teller's whole decision), also compare how often each version would
    *answer* a question with a problem that is not its own: that rate may not rise by more than
    ``max_drop`` either.
    """
    indexed_live = (
        {normalise(q) for ref in live.refs for q in ref.problem.questions} if live is not None else set()
    )
    fair = [q for q in questions if q.source == "golden" or normalise(q.text) not in indexed_live]
    right_candidate = right_live = wrong_candidate = wrong_live = 0
    misses: list[Miss] = []
    for question in fair:
        got = top1(candidate, question.text)
        was = top1(live, question.text) if live is not None else None
        right_candidate += got == question.problem_id
        right_live += was == question.problem_id
        if got != question.problem_id:
            misses.append(Miss(question.text, question.problem_id, got, was))
        if answered is not None:
            wrong_candidate += answered(candidate, question.text) not in (None, question.problem_id)
            if live is not None:
                wrong_live += answered(live, question.text) not in (None, question.problem_id)
    total = len(fair)
    checked = answered is not None and total > 0
    return GateReport(
        questions=total,
        live_accuracy=(right_live / total if total else 1.0) if live is not None else None,
        candidate_accuracy=right_candidate / total if total else 1.0,
        max_drop=max_drop,
        misses=misses,
        live_wrong_answers=wrong_live / total if checked and live is not None else None,
        candidate_wrong_answers=wrong_candidate / total if checked else None,
    )


@dataclass(frozen=True)
class Release:
    version: int
    published_by: str
    reviewed_by: str | None
    at: str
    holdout_percent: int
    gate: dict[str, Any]
    note: str = ""


class ReleaseLog:
    """The record and the full source (before hold-back) of each published version, in the index's catalog.

    ``index_dir`` is no longer read (the catalog knows where it keeps them); it is accepted so
    existing callers need not change.
    """

    def __init__(self, index: KnowledgeIndex, index_dir: Path | None = None) -> None:
        self._index = index

    def record(self, release: Release, source: KnowledgeBase) -> None:
        self._index.catalog.put_release(
            release.version, json.dumps(asdict(release)), source.model_dump_json()
        )

    def release(self, version: int) -> Release | None:
        text = self._index.catalog.release(version)
        return None if text is None else Release(**json.loads(text))

    def source(self, version: int) -> KnowledgeBase:
        """The knowledge as edited (with held-back questions); a version built elsewhere is its snapshot."""
        text = self._index.catalog.release_source(version)
        if text is not None:
            return KnowledgeBase.model_validate_json(text)
        return self._index.snapshot(version)

    def history(self) -> list[tuple[int, Release | None]]:
        return [(v, self.release(v)) for v in self._index.versions()]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
