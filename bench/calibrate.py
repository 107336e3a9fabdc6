"""Fit the confidence calibration (brain.retrieval.calib_*) without touching the eval set.

The fit part of BANKING77 is split again: 90 % builds a temporary knowledge
base, the other 10 % plus knowledge/data/calibration/out_of_scope.txt are asked.
A logistic regression of "top candidate is right" on (best dense similarity,
margin to the runner-up) gives the coefficients; the answer threshold that keeps
the out-of-scope false-answer rate under 5 % is reported next to them.
Prints one JSON object as the last line; copy the values into configs/default.yaml.

Run: .venv/bin/python bench/calibrate.py [--keep]   (--keep reuses var/calibration-index)
"""

from __future__ import annotations

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
from server.config import load_settings
from server.runtime import open_index, policy_config

OOS_CALIBRATION = (
    Path(__file__).resolve().parents[1] / "knowledge" / "data" / "calibration" / "out_of_scope.txt"
)


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
        retriever = Retriever(kb, version, index, weights=settings.brain.retrieval)
        brain = Brain(retriever, policy_config(settings), MemoryStore())
        decisions = Counter(
            brain.respond(f"c{n}", row.text).decision.value for n, row in enumerate(calibration)
        )
        x: list[tuple[float, float]] = []
        y: list[int] = []
        for row in calibration:
            r = retriever.retrieve(row.text)
            x.append(_features(r))
            y.append(int(r.best is not None and row.intent in r.best.ref.problem.source_intents))
        oos = [t for t in OOS_CALIBRATION.read_text(encoding="utf-8").splitlines() if t.strip()]
        for text in oos:
            x.append(_features(retriever.retrieve(text)))
            y.append(0)
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
    result = {
        "calibration_in_scope": int(in_scope.sum()),
        "calibration_oos": int((~in_scope).sum()),
        "calib_bias": round(bias, 3),
        "calib_score": round(w_dense, 3),
        "calib_margin": round(w_margin, 3),
        "answer_threshold": round(best_threshold, 2),
        "in_scope_answer_rate_at_threshold": round(float(np.mean(conf[in_scope] >= best_threshold)), 4),
        "in_scope_top1": round(float(np.mean(labels[in_scope])), 4),
        "decision_rates_with_current_config": {
            k: round(v / len(calibration), 4) for k, v in decisions.items()
        },
        "brier": round(float(np.mean((conf - labels) ** 2)), 4),
        "log_loss": round(float(-np.mean(labels * np.log(conf) + (1 - labels) * np.log(1 - conf))), 4),
    }
    assert not math.isnan(result["brier"])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
