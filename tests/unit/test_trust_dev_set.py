"""The trust development set (bench/data/trust_dev.yaml): schema, labels, split, and no copies.

The set is hand-written customer wording for issue #17; these checks keep it loadable and honest:
every labelled problem exists in the demo knowledge, one third of it is held out, and no
question is simply one of the knowledge's own questions.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from knowledge.loader import load_knowledge_base

REPO = Path(__file__).resolve().parents[2]
DEV_SET = REPO / "bench" / "data" / "trust_dev.yaml"
DEMO = REPO / "knowledge" / "data" / "demo_bank"

KINDS = {
    "covered_new_words",
    "uncovered_product",
    "account_specific",
    "security_action",
    "confusable",
    "asr_noisy",
    "off_domain",
}
OUTCOMES = {"not_covered", "security", "clarify", "refuse", "handoff"}
SPLITS = {"tune", "held"}
QUESTION_KEYS = {"id", "split", "kind", "text", "answer", "otherwise"}
TURN_KEYS = {"text", "answer", "otherwise"}
SNAKE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


@cache
def _dev_set() -> dict[str, Any]:
    with DEV_SET.open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return data


@cache
def _knowledge_questions() -> dict[str, list[str]]:
    """Problem id → its standard and similar questions (loading the demo knowledge takes seconds)."""
    return {ref.problem.id: ref.problem.questions for ref in load_knowledge_base(DEMO).problem_refs()}


def _problem_ids() -> set[str]:
    return set(_knowledge_questions())


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9£]+", " ", text.lower()).split())


def _check_labels(where: str, item: dict[str, Any], keys: set[str]) -> None:
    assert keys <= set(item) <= keys | {"concept"}, f"{where}: keys {sorted(item)}"
    assert isinstance(item["text"], str) and item["text"].strip(), f"{where}: empty text"
    answer = item["answer"]
    assert isinstance(answer, list) and len(answer) == len(set(answer)), f"{where}: answer {answer}"
    unknown = set(answer) - _problem_ids()
    assert not unknown, f"{where}: unknown problem ids {sorted(unknown)}"
    assert item["otherwise"] in OUTCOMES, f"{where}: otherwise {item['otherwise']!r}"
    if "concept" in item:
        assert answer == [] and SNAKE.match(item["concept"]), f"{where}: concept only for not-covered items"
    if item["otherwise"] == "not_covered" and not answer:
        assert "concept" in item, f"{where}: a not-covered item names its missing concept"


def test_questions_follow_the_schema_and_name_real_problems() -> None:
    questions = _dev_set()["questions"]
    assert len(questions) >= 400
    assert len({q["id"] for q in questions}) == len(questions)
    for q in questions:
        where = q.get("id", "?")
        assert re.fullmatch(r"q\d{4}", where), where
        _check_labels(where, q, QUESTION_KEYS)
        assert q["split"] in SPLITS and q["kind"] in KINDS, where
        if q["kind"] == "off_domain":
            assert q["answer"] == [] and q["otherwise"] == "refuse", where
        if q["kind"] == "security_action":
            assert q["otherwise"] == "security", where
    kinds = Counter(q["kind"] for q in questions)
    assert set(kinds) == KINDS


def test_conversations_follow_the_schema_and_name_real_problems() -> None:
    conversations = _dev_set()["conversations"]
    assert len(conversations) >= 100
    assert len({c["id"] for c in conversations}) == len(conversations)
    for c in conversations:
        assert set(c) == {"id", "split", "turns"} and re.fullmatch(r"c\d{4}", c["id"]), c
        assert c["split"] in SPLITS
        assert 2 <= len(c["turns"]) <= 3, c["id"]
        for n, turn in enumerate(c["turns"], 1):
            _check_labels(f"{c['id']} turn {n}", turn, TURN_KEYS)


def test_one_third_is_held_out_evenly_over_kinds() -> None:
    questions, conversations = _dev_set()["questions"], _dev_set()["conversations"]
    held = [q for q in questions if q["split"] == "held"]
    assert len(held) * 3 == len(questions)
    per_kind = Counter(q["kind"] for q in questions)
    held_per_kind = Counter(q["kind"] for q in held)
    for kind, count in per_kind.items():
        assert abs(held_per_kind[kind] * 3 - count) <= 3, kind
    assert sum(c["split"] == "held" for c in conversations) * 3 == len(conversations)


def test_no_question_is_a_copy_of_a_knowledge_question() -> None:
    known = {_norm(q) for questions in _knowledge_questions().values() for q in questions}
    data = _dev_set()
    texts = [q["text"] for q in data["questions"]]
    texts += [t["text"] for c in data["conversations"] for t in c["turns"]]
    copies = sorted(t for t in texts if _norm(t) in known)
    assert copies == []
