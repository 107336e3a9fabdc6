"""BANKING77 (PolyAI, CC BY 4.0) as demo content: a fixed fit / held-back split.

Each intent's questions are split by a hash of their normalised text, so the
split is the same on every machine and never depends on file order. The fit
part becomes similar questions of the knowledge base; the held-back part is
never put in it and serves as the evaluation set (``bench/knowledge_eval.py``).

Run ``python -m knowledge.demo.banking77 import`` to refresh the similar
questions of every problem in ``knowledge/data/demo_bank`` from the fit part.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from knowledge.loader import load_knowledge_base, save_knowledge_base
from knowledge.schema import KnowledgeBase

HELD_BACK_PERCENT = 20
DEFAULT_CSV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "banking77" / "train.csv"
DEMO_KB = Path(__file__).resolve().parents[1] / "data" / "demo_bank"


@dataclass(frozen=True)
class LabelledQuestion:
    text: str
    intent: str


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def is_held_back(text: str) -> bool:
    digest = hashlib.sha256(normalise(text).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HELD_BACK_PERCENT


def read_banking77(csv_path: Path = DEFAULT_CSV) -> list[LabelledQuestion]:
    with Path(csv_path).open(encoding="utf-8", newline="") as handle:
        return [LabelledQuestion(row["text"].strip(), row["category"]) for row in csv.DictReader(handle)]


def split(rows: list[LabelledQuestion]) -> tuple[list[LabelledQuestion], list[LabelledQuestion]]:
    """Return ``(fit, held_back)``; a text seen under two intents is held back from neither."""
    intents_of: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        intents_of[normalise(row.text)].add(row.intent)
    fit: list[LabelledQuestion] = []
    held: list[LabelledQuestion] = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        key = (normalise(row.text), row.intent)
        if key in seen or len(intents_of[key[0]]) > 1:
            continue
        seen.add(key)
        (held if is_held_back(row.text) else fit).append(row)
    return fit, held


def fill_similar_questions(
    kb: KnowledgeBase, fit: list[LabelledQuestion], dataset: list[LabelledQuestion]
) -> KnowledgeBase:
    """Replace each problem's BANKING77 similar questions with ``fit`` questions of its intents.

    Hand-written similar questions (texts that are not in ``dataset``) are kept.
    """
    by_intent: dict[str, list[str]] = defaultdict(list)
    for row in fit:
        by_intent[row.intent].append(row.text)
    dataset_texts = {normalise(row.text) for row in dataset}
    data = kb.model_dump(mode="python")
    for product in data["products"]:
        for scenario in product["scenarios"]:
            for problem in scenario["problems"]:
                own = [q for q in problem["similar_questions"] if normalise(q) not in dataset_texts]
                imported = [q for intent in problem["source_intents"] for q in by_intent[intent]]
                problem["similar_questions"] = own + imported
    return KnowledgeBase.model_validate(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knowledge.demo.banking77")
    parser.add_argument("command", choices=["import", "stats"])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--kb", type=Path, default=DEMO_KB)
    args = parser.parse_args(argv)
    rows = read_banking77(args.csv)
    fit, held = split(rows)
    kb = load_knowledge_base(args.kb)
    if args.command == "import":
        save_knowledge_base(fill_similar_questions(kb, fit, rows), args.kb)
    covered = {i for ref in kb.problem_refs() for i in ref.problem.source_intents}
    print(f"fit={len(fit)} held_back={len(held)} intents_covered={len(covered)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
