"""Scoring the Brain on the trust development set (bench/data/trust_dev.yaml, issue #17).

Each item names the problems whose approved answer answers it (``answer``) and
the right outcome when it is not answered (``otherwise``: not_covered, security,
clarify, handoff, refuse). A reply is *right* when it answers with one of those
problems, or does not answer and its outcome is ``otherwise``. It is a *wrong
answer* when it answers with any other problem. Items whose ``otherwise`` is
``refuse`` are off the domain; all others are bank questions.

    wrong_answer_rate                    wrong answers / bank questions
    offtopic_refusal_of_bank_questions   bank questions refused as off-topic / bank questions
    right_rate                           right replies / all items
    offdomain_refusal                    off-domain items refused / off-domain items
    followup_resolved_rate               second and third conversation turns replied to rightly
    followup_wrong_answer_rate           wrong answers among those turns
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from server.brain.brain import Brain, BrainReply

DEV_SET = Path(__file__).resolve().parents[1] / "data" / "trust_dev.yaml"


def outcome(reply: BrainReply) -> str:
    """The dev set's name for what the Brain did."""
    decision, reason = reply.decision.value, reply.reason.value
    if decision == "answer":
        return "answer"
    if decision == "handoff" and reason in ("security", "urgent"):
        return "security"
    if decision == "handoff" and reason == "not_covered":
        return "not_covered"
    return decision  # refuse | clarify | handoff


@dataclass
class Tally:
    items: int = 0
    bank: int = 0
    right: int = 0
    wrong: int = 0
    refused_bank: int = 0
    offdomain: int = 0
    offdomain_refused: int = 0

    def add(self, item: dict[str, Any], reply: BrainReply, misses: list[str] | None = None) -> bool:
        self.items += 1
        got = outcome(reply)
        in_bank = item["otherwise"] != "refuse"
        cited = reply.citations[0].problem_id if reply.citations else None
        right = cited in item["answer"] if got == "answer" else got == item["otherwise"]
        if in_bank:
            self.bank += 1
            self.wrong += got == "answer" and not right
            self.refused_bank += got == "refuse"
        else:
            self.offdomain += 1
            self.offdomain_refused += got == "refuse"
        self.right += right
        if not right and misses is not None:
            want = f"{item['answer']} / {item['otherwise']}"
            misses.append(f"{got}:{reply.reason.value}:{cited} <- {item['text']} (want {want})")
        return right


def _rate(n: int, d: int) -> float:
    return round(n / d, 4) if d else 0.0


def evaluate_trust(
    brain: Brain, split: str, path: Path = DEV_SET, misses: list[str] | None = None
) -> dict[str, object]:
    """The measures above on the items of ``split`` (tune | held | all)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    questions = [q for q in data["questions"] if split in ("all", q["split"])]
    conversations = [c for c in data["conversations"] if split in ("all", c["split"])]
    single = Tally()
    by_kind: Counter[str] = Counter()
    kind_total: Counter[str] = Counter()
    for n, item in enumerate(questions):
        right = single.add(item, brain.respond(f"trust-q{n}-{split}", item["text"]), misses)
        kind_total[item["kind"]] += 1
        by_kind[item["kind"]] += right
    follow = Tally()
    for n, conversation in enumerate(conversations):
        session = f"trust-c{n}-{split}"
        for turn_no, turn in enumerate(conversation["turns"]):
            reply = brain.respond(session, turn["text"])
            item = {**turn, "kind": "follow_up"}
            if turn_no > 0:
                follow.add(item, reply, misses)
    return {
        "split": split,
        "questions": single.items,
        "wrong_answer_rate": _rate(single.wrong, single.bank),
        "offtopic_refusal_of_bank_questions": _rate(single.refused_bank, single.bank),
        "right_rate": _rate(single.right, single.items),
        "offdomain_refusal": _rate(single.offdomain_refused, single.offdomain),
        "right_rate_by_kind": {k: _rate(by_kind[k], kind_total[k]) for k in sorted(kind_total)},
        "conversations": len(conversations),
        "followup_turns": follow.items,
        "followup_resolved_rate": _rate(follow.right, follow.items),
        "followup_wrong_answer_rate": _rate(follow.wrong, follow.bank),
    }
