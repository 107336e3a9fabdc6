"""Answer quality: held-back BANKING77, out-of-scope questions, and the trust development set.

Builds the demo knowledge base into a temporary directory (or reuses the live
index with --reuse), asks every held-back question in a fresh session, and
prints one JSON object as the last line:

    top1_accuracy   top citation's source_intents contain the label (all held-back questions)
    answer_rate     decision == "answer"
    grounded_rate   decision is "answer", or "handoff" that still cites (urgent wording)
    oos_rejection   decision == "refuse" on bench/data/out_of_scope_eval.txt
    wrong_answer_rate (BANKING77)   answered with a problem whose source_intents miss the label
    offtopic_refusal_of_bank_questions (BANKING77)   refused as off-topic
    trust           bench/harness/trust.py's measures on one split of bench/data/trust_dev.yaml
                    (wrong_answer_rate, offtopic_refusal_of_bank_questions, followup_resolved_rate, ...)
    layers          with --layers: the same measures with each of issue #17's layers switched
                    off in turn (the domain check, the answer check), so each is measured on its own

The trust set's held third (``--dev-split held``, the default) is for the final report only;
tune on ``--dev-split tune``.

Run: .venv/bin/python bench/knowledge_eval.py [--csv PATH] [--reuse] [--dev-split tune|held|all] [--layers]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness.trust import evaluate_trust
from knowledge.demo.banking77 import DEFAULT_CSV, normalise, read_banking77, split
from server.brain.brain import Brain
from server.brain.memory import MemoryStore
from server.config import Settings, load_settings
from server.runtime import Runtime, open_runtime, policy_config

OOS_FILE = Path(__file__).with_name("data") / "out_of_scope_eval.txt"


def _settings(reuse: bool, workdir: Path) -> Settings:
    if reuse:
        return load_settings()
    return load_settings(
        knowledge={**load_settings().knowledge.model_dump(), "index_dir": workdir / "index"},
        store={"url": f"sqlite:///{workdir / 'eval.db'}"},
    )


def evaluate(brain: Brain, csv_path: Path) -> dict[str, object]:
    _, held = split(read_banking77(csv_path))
    kb_texts = {normalise(q) for ref in brain.retriever.refs for q in ref.problem.questions}
    leaked = sum(1 for row in held if normalise(row.text) in kb_texts)
    held = [row for row in held if normalise(row.text) not in kb_texts]
    decisions: Counter[str] = Counter()
    correct = grounded = wrong = 0
    misses: Counter[str] = Counter()
    started = time.perf_counter()
    for n, row in enumerate(held):
        reply = brain.respond(f"eval-{n}", row.text)
        decisions[reply.decision.value] += 1
        top = reply.citations[0] if reply.citations else None
        if top is not None and row.intent in top.source_intents:
            correct += 1
        else:
            misses[row.intent] += 1
            wrong += reply.decision.value == "answer"
        if reply.decision.value == "answer" or (reply.decision.value == "handoff" and top is not None):
            grounded += 1
    oos = [line.strip() for line in OOS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    oos_decisions: Counter[str] = Counter(
        brain.respond(f"oos-{n}", text).decision.value for n, text in enumerate(oos)
    )
    elapsed = time.perf_counter() - started
    total = len(held)
    return {
        "held_back_questions": total,
        "held_back_leaked_into_kb": leaked,
        "top1_accuracy": round(correct / total, 4),
        "answer_rate": round(decisions["answer"] / total, 4),
        "wrong_answer_rate": round(wrong / total, 4),
        "offtopic_refusal_of_bank_questions": round(decisions["refuse"] / total, 4),
        "grounded_rate": round(grounded / total, 4),
        "clarify_rate": round(decisions["clarify"] / total, 4),
        "handoff_rate": round(decisions["handoff"] / total, 4),
        "refuse_rate": round(decisions["refuse"] / total, 4),
        "oos_questions": len(oos),
        "oos_rejection": round(oos_decisions["refuse"] / len(oos), 4),
        "oos_decisions": dict(oos_decisions),
        "worst_intents": dict(misses.most_common(5)),
        "questions_per_s": round((total + len(oos)) / elapsed, 1),
    }


def _brain(runtime: Runtime, **switches: bool) -> Brain:
    """A Brain on the runtime's retriever with some of its policy switched (a fresh memory)."""
    config = replace(policy_config(runtime.settings), **switches)
    return Brain(runtime.brain.retriever, config, MemoryStore())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--reuse", action="store_true", help="use the live index instead of a fresh build")
    parser.add_argument("--dev-split", choices=["tune", "held", "all"], default="held")
    parser.add_argument("--layers", action="store_true", help="also measure with each layer switched off")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="teller-eval-") as tmp:
        runtime = open_runtime(_settings(args.reuse, Path(tmp)), build_if_missing=True)
        try:
            result = evaluate(runtime.brain, args.csv)
            result["trust"] = evaluate_trust(_brain(runtime), args.dev_split)
            if args.layers:
                result["layers"] = {
                    name: {
                        **{
                            k: v
                            for k, v in evaluate(_brain(runtime, **off), args.csv).items()
                            if k != "worst_intents"
                        },
                        "trust": evaluate_trust(_brain(runtime, **off), args.dev_split),
                    }
                    for name, off in {
                        "without_domain_check": {"check_domain": False},
                        "without_answer_check": {"check_concepts": False},
                        "retrieval_only": {"check_domain": False, "check_concepts": False},
                    }.items()
                }
        finally:
            runtime.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
