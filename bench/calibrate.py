"""Fit the confidence calibration (brain.retrieval.calib_*) without touching the eval set.

The fit part of BANKING77 is split again: 90 % builds a temporary knowledge
base, the other 10 % plus knowledge/data/calibration/out_of_scope.txt are asked.
A logistic regression of "top candidate is right" on (best dense similarity,
margin to the runner-up) gives the coefficients; the answer threshold that keeps
the out-of-scope false-answer rate under 5 % is reported next to them.

``generic_word_gap`` ("card" alone: ask debit or credit when both answers are this
close) is fitted on knowledge/data/calibration/ambiguous.txt, questions that name
no product and truly fit both: the smallest gap that still asks about at least
90 % of them, so unambiguous questions are asked back as rarely as possible.
Prints one JSON object as the last line; copy the values into configs/default.yaml.

Run: .venv/bin/python bench/calibrate.py [--keep]   (--keep reuses var/calibration-index)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from knowledge.demo.banking77 import fill_similar_questions, normalise, read_banking77, split
from knowledge.loader import load_knowledge_base
from knowledge.retrieval import Retrieval, Retriever
from server.brain.brain import Brain
from server.brain.memory import MemoryStore
from server.brain.policy import Decision, PolicyConfig, decide
from server.brain.signals import read_signals
from server.config import load_settings
from server.runtime import open_index, policy_config

CALIBRATION_DIR = Path(__file__).resolve().parents[1] / "knowledge" / "data" / "calibration"
OOS_CALIBRATION = CALIBRATION_DIR / "out_of_scope.txt"
AMBIGUOUS_CALIBRATION = CALIBRATION_DIR / "ambiguous.txt"
GAPS = (0.2, 0.15, 0.12, 0.1, 0.08, 0.06, 0.04, 0.02)
AMBIGUOUS_KEPT = 0.9


def _lines(path: Path) -> list[str]:
    return [t.strip() for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]


def _clarify_rate(items: list[tuple[str, Retrieval]], config: PolicyConfig) -> float:
    asked = sum(decide(read_signals(t), r, 0, config).decision is Decision.CLARIFY for t, r in items)
    return asked / max(len(items), 1)


def fit_generic_word_gap(
    in_scope: list[tuple[str, Retrieval]], ambiguous: list[tuple[str, Retrieval]], base: PolicyConfig
) -> tuple[float, dict[str, dict[str, float]]]:
    """The smallest gap that still clarifies ``AMBIGUOUS_KEPT`` of the ambiguous questions."""
    table: dict[str, dict[str, float]] = {}
    chosen = GAPS[0]
    for gap in GAPS:
        config = dataclasses.replace(base, generic_word_gap=gap)
        kept = _clarify_rate(ambiguous, config)
        table[str(gap)] = {
            "ambiguous_clarified": round(kept, 4),
            "in_scope_clarified": round(_clarify_rate(in_scope, config), 4),
        }
        if kept >= AMBIGUOUS_KEPT:
            chosen = gap
    return chosen, table


def _is_calibration(text: str) -> bool:
    return hashlib.sha256(("calib:" + normalise(text)).encode()).digest()[0] < 26  # ~10 %


def _features(retrieval: Retrieval) -> tuple[float, float]:
    c = retrieval.candidates
    margin = c[0].score - c[1].score if len(c) > 1 else c[0].score
    return c[0].dense, margin


def main() -> int:
    settings = load_settings()
    rows = read_banking77()
    fit, _ = split(rows)
    calibration = [row for row in fit if _is_calibration(row.text)]
    kb = fill_similar_questions(
        load_knowledge_base(settings.knowledge.source_dir),
        [row for row in fit if not _is_calibration(row.text)],
        rows,
    )
    assert not {normalise(r.text) for r in calibration} & {
        normalise(q) for ref in kb.problem_refs() for q in ref.problem.questions
    }
    keep = Path("var/calibration-index")
    with tempfile.TemporaryDirectory(prefix="teller-calib-") as tmp:
        settings.knowledge.index_dir = keep if "--keep" in sys.argv else Path(tmp)
        index = open_index(settings)
        live = index.active_version()
        if live is not None and index.snapshot(live) == kb:
            version = live
        else:
            version = index.build(kb)
            index.activate(version)
        retriever = Retriever(
            kb,
            version,
            index,
            weights=settings.brain.retrieval,
            dense_top_k=settings.knowledge.dense_top_k,
            alternative_gap=max(GAPS),
        )
        brain = Brain(retriever, policy_config(settings), MemoryStore())
        decisions = Counter(
            brain.respond(f"c{n}", row.text).decision.value for n, row in enumerate(calibration)
        )
        x: list[tuple[float, float]] = []
        y: list[int] = []
        in_scope_retrievals: list[tuple[str, Retrieval]] = []
        for row in calibration:
            r = retriever.retrieve(row.text)
            in_scope_retrievals.append((row.text, r))
            x.append(_features(r))
            y.append(int(r.best is not None and row.intent in r.best.ref.problem.source_intents))
        for text in _lines(OOS_CALIBRATION):
            x.append(_features(retriever.retrieve(text)))
            y.append(0)
        ambiguous = [(t, retriever.retrieve(t)) for t in _lines(AMBIGUOUS_CALIBRATION)]
    from sklearn.linear_model import LogisticRegression

    features, labels = np.array(x), np.array(y)
    model = LogisticRegression(C=10.0).fit(features, labels)
    bias = float(model.intercept_[0])
    w_dense, w_margin = (float(v) for v in model.coef_[0])
    conf = 1 / (1 + np.exp(-(bias + features @ np.array([w_dense, w_margin]))))
    in_scope = np.arange(len(labels)) < len(calibration)
    best_threshold = 0.5
    for threshold in np.arange(0.05, 0.95, 0.01):
        if np.mean(conf[~in_scope] >= threshold) <= 0.05:
            best_threshold = float(threshold)
            break

    def recalibrated(item: tuple[str, Retrieval]) -> tuple[str, Retrieval]:
        text, r = item
        z = bias + np.array(_features(r)) @ np.array([w_dense, w_margin]) if r.candidates else -np.inf
        return text, dataclasses.replace(r, confidence=float(1 / (1 + np.exp(-z))))

    fitted = dataclasses.replace(policy_config(settings), answer_threshold=best_threshold)
    gap, gap_table = fit_generic_word_gap(
        [recalibrated(i) for i in in_scope_retrievals], [recalibrated(i) for i in ambiguous], fitted
    )
    result = {
        "calibration_in_scope": int(in_scope.sum()),
        "calibration_oos": int((~in_scope).sum()),
        "calib_bias": round(bias, 3),
        "calib_score": round(w_dense, 3),
        "calib_margin": round(w_margin, 3),
        "answer_threshold": round(best_threshold, 2),
        "in_scope_answer_rate_at_threshold": round(float(np.mean(conf[in_scope] >= best_threshold)), 4),
        "in_scope_top1": round(float(np.mean(labels[in_scope])), 4),
        "generic_word_gap": gap,
        "generic_word_gap_table": gap_table,
        "decision_rates_with_current_config": {
            k: round(v / len(calibration), 4) for k, v in decisions.items()
        },
        "brier": round(float(np.mean((conf - labels) ** 2)), 4),
        "log_loss": round(float(-np.mean(labels * np.log(conf) + (1 - labels) * np.log(1 - conf))), 4),
    }
    assert not math.isnan(float(np.mean((conf - labels) ** 2)))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
