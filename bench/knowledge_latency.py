"""Latency of POST /api/v1/ask and index build time on a knowledge base of 20,000 problems.

The demo knowledge base is padded with generated problems (each a standard
question and one similar question, under their own scenarios) to --problems in
total, built cold into a temporary Chroma store (fresh embedder, no cache), then
--questions held-back BANKING77 questions are asked through the HTTP API
in-process (FastAPI TestClient), each in a new session.

Keys: build_s, p50_ms, p95_ms (per request), problems, questions_indexed,
embedding_backend (onnx unless the export failed), load_1m (machine load when done:
timings are only comparable on an idle machine).
Run: .venv/bin/python bench/knowledge_latency.py [--problems 20000] [--questions 400]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient

from bench.harness.serve import unlimited_http
from knowledge.demo.banking77 import read_banking77, split
from knowledge.loader import load_knowledge_base
from knowledge.schema import KnowledgeBase, Problem, Scenario
from server.app import create_app
from server.config import load_settings
from server.runtime import open_index, open_runtime

SUBJECTS = ["savings pot", "joint account", "standing order", "cheque book", "business account",
            "mortgage offer", "travel insurance", "pension transfer", "overdraft", "ISA allowance",
            "gift card", "merchant refund", "salary advance", "student account", "premium plan",
            "cashback offer", "round-up savings", "bill split", "shared wallet", "crypto vault"]  # fmt: skip
ACTIONS = ["open", "close", "pause", "rename", "transfer", "upgrade", "downgrade", "freeze", "review",
           "export", "dispute", "renew", "link", "unlink", "share", "schedule", "cancel", "top up",
           "restore", "report"]  # fmt: skip
ASPECTS = ["in the app", "online", "from abroad", "for my child", "at the weekend", "this month",
           "without fees", "for a partner", "after moving house", "before a trip", "with two owners",
           "on a new phone", "after a name change", "for a business", "in euros", "in dollars",
           "by phone", "on holiday", "after a refund", "with a virtual card"]  # fmt: skip


TEMPLATES = ["How do I {a} my {s} {x}?", "What happens if I {a} my {s} {x}?",
             "Is it possible to {a} a {s} {x}?", "Where can I {a} my {s} {x}?",
             "How long does it take to {a} my {s} {x}?"]  # fmt: skip


def padded(kb: KnowledgeBase, total: int, seed: int = 7) -> KnowledgeBase:
    """``kb`` plus generated problems until it holds ``total`` problems."""
    rng = random.Random(seed)
    combos = list(itertools.product(TEMPLATES, ACTIONS, SUBJECTS, ASPECTS))
    rng.shuffle(combos)
    need = total - len(kb.problem_refs())
    data = kb.model_copy(deep=True)
    for n, (template, action, subject, aspect) in enumerate(combos[:need]):
        product = data.products[n % len(data.products)]
        scenario_id = f"pad_{product.id}_{n // 500}"
        scenario = next((s for s in product.scenarios if s.id == scenario_id), None)
        problem = Problem(
            id=f"pad_{n}",
            standard_question=template.format(a=action, s=subject, x=aspect),
            similar_questions=[f"Can I {action} the {subject} {aspect}?"],
            answer=f"To {action} your {subject} {aspect}, open the app and follow the steps in Help.",
            tags=["padding"],
        )
        if scenario is None:
            product.scenarios.append(
                Scenario(id=scenario_id, name=f"More {product.name}", problems=[problem])
            )
        else:
            scenario.problems.append(problem)
    if need > len(combos):
        raise ValueError(f"can only generate {len(combos)} padding problems")
    return KnowledgeBase.model_validate(data.model_dump())


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 2)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=20_000)
    parser.add_argument("--questions", type=int, default=400)
    args = parser.parse_args()
    base = load_settings()
    kb = padded(load_knowledge_base(base.knowledge.source_dir), args.problems)
    questions_indexed = sum(len(ref.problem.questions) for ref in kb.problem_refs())
    _, held = split(read_banking77())
    asks = [row.text for row in random.Random(1).sample(held, args.questions)]
    with tempfile.TemporaryDirectory(prefix="teller-latency-") as tmp:
        settings = load_settings(
            knowledge={**base.knowledge.model_dump(), "index_dir": Path(tmp) / "index"},
            store={"url": f"sqlite:///{tmp}/latency.db"},
            limits=unlimited_http(),
        )
        index = open_index(settings)
        index.embedder.embed(["load the model before timing the build"])
        started = time.perf_counter()
        version = index.build(kb)
        build_s = time.perf_counter() - started
        index.activate(version)
        runtime = open_runtime(settings, embedder=index.embedder)
        timings: list[float] = []
        with TestClient(create_app(settings, runtime)) as client:
            for text in asks[:20]:
                client.post("/api/v1/ask", json={"text": text})
            for text in asks:
                t0 = time.perf_counter()
                response = client.post("/api/v1/ask", json={"text": text})
                timings.append((time.perf_counter() - t0) * 1000)
                response.raise_for_status()
        runtime.close()
    print(
        json.dumps(
            {
                "problems": len(kb.problem_refs()),
                "questions_indexed": questions_indexed,
                "build_s": round(build_s, 1),
                "requests": len(timings),
                "p50_ms": _percentile(timings, 0.5),
                "p95_ms": _percentile(timings, 0.95),
                "embedding_backend": index.embedder.backend,
                "load_1m": round(os.getloadavg()[0], 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
