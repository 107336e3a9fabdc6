from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

import pytest

from server.brain.llm.numbers import facts
from server.operator.brief import HandoffBrief, build_brief, check_numeric_consistency
from server.operator.queue import QueueReason


@dataclass
class Row:
    speaker: str
    text: str
    decision: str | None = None
    reason: str | None = None
    citations: list[dict[str, object]] = field(default_factory=list)


CITE = {
    "problem_id": "card_lost_freeze",
    "product": "debit_card",
    "scenario": "card_lost",
    "knowledge_version": 3,
}
TITLES = {
    "card_lost_freeze": "How do I freeze a lost card?",
    "fee_question": "Why was I charged a £5 fee on 12 June?",  # numbers the customer never said
}


def lookup(pid: str) -> str | None:
    return TITLES.get(pid)


def texts(rows: list[Row]) -> list[str]:
    return [r.text for r in rows]


def test_brief_contents() -> None:
    rows = [
        Row("customer", "hi"),
        Row("bot", "Hello, how can I help?", "clarify", "small_talk"),
        Row("customer", "I lost my card [card ending 1234] on 3 March and someone spent £250 and 2.5%"),
        Row("bot", "I can freeze it for you in the app.", "answer", "confident", [CITE]),
        Row("customer", "I want to speak to a person"),
        Row("bot", "I'm passing you to a colleague.", "handoff", "customer_request", [CITE]),
    ]
    brief = build_brief(rows, lookup, session_id="s1")
    assert (brief.product, brief.scenario, brief.problem) == ("debit_card", "card_lost", "card_lost_freeze")
    assert brief.problem_title == "How do I freeze a lost card?"
    assert brief.customer_goal.startswith("I lost my card [card ending 1234]")
    assert brief.amounts == ["£250", "2.5%"]
    assert brief.dates == ["3 March"]
    assert brief.account_hints == ["[card ending 1234]"]
    assert brief.bot_said == [
        "Hello, how can I help?",
        "I can freeze it for you in the app.",
        "I'm passing you to a colleague.",
    ]
    assert brief.reason is QueueReason.CUSTOMER_REQUEST
    assert check_numeric_consistency(brief, texts(rows)) == []
    assert HandoffBrief.model_validate_json(brief.model_dump_json()) == brief


def test_goal_falls_back_to_the_problems_standard_question() -> None:
    rows = [Row("customer", "hello"), Row("bot", "Hi!", "answer", "confident", [CITE])]
    assert build_brief(rows, lookup).customer_goal == "How do I freeze a lost card?"


def test_title_with_unsupported_numbers_is_dropped() -> None:
    rows = [
        Row("customer", "ok"),
        Row("bot", "About that fee.", "answer", "confident", [{"problem_id": "fee_question"}]),
    ]
    brief = build_brief(rows, lookup)
    assert brief.problem == "fee_question" and brief.problem_title is None and brief.customer_goal == ""


def test_explicit_reason_and_bot_turn_limit() -> None:
    rows = [Row("bot", f"turn {w}") for w in ("one", "two", "three", "four", "five")]
    brief = build_brief(rows, lookup, reason=QueueReason.URGENT, bot_turns=2)
    assert brief.bot_said == ["turn four", "turn five"] and brief.reason is QueueReason.URGENT
    assert build_brief(rows, lookup, bot_turns=0).bot_said == []


def test_empty_transcript() -> None:
    brief = build_brief([], lookup)
    assert brief == HandoffBrief() and check_numeric_consistency(brief, []) == []


def test_long_bot_turn_is_cut_between_words() -> None:
    text = "word " * 54 + "fee is £1,234.56 today"  # the amount straddles the 280-char limit
    brief = build_brief([Row("bot", text, "answer")], lookup)
    assert brief.bot_said and brief.bot_said[0].endswith("…")
    assert "£1,2" not in brief.bot_said[0] or "£1,234.56" in brief.bot_said[0]
    assert check_numeric_consistency(brief, [text]) == []


@pytest.mark.parametrize(
    ("said", "claimed", "bad"),
    [
        ("I paid £250", "£300", ["£300"]),
        ("I paid £250", "£250", []),
        ("I paid 250", "£250", ["£250"]),  # a bare number does not support an amount
        ("I paid £250", "250", []),  # but an amount supports the bare number
        ("rate 3.5%", "35%", ["35%"]),
        ("rate 3.5%", "3.5 percent", []),
        ("£1,000", "£1000", []),
        ("on 3 March", "3 May", ["May"]),
        ("[card ending 1234]", "[card ending 4321]", ["4321"]),
        ("five pounds", "£5", []),
    ],
)
def test_check_numeric_consistency(said: str, claimed: str, bad: list[str]) -> None:
    brief = HandoffBrief(amounts=[claimed])
    assert check_numeric_consistency(brief, [said]) == bad


# --- generated transcripts -------------------------------------------------------------

AMOUNTS = [
    "£{n}",
    "${n}",
    "€{n}",
    "{n} pounds",
    "£{n}.{c:02d}",
    "£{k},{h:03d}",
    "{n} quid",
    "{n}%",
    "{n}.5 percent",
]
DATES = [
    "{d} March",
    "{d}th of June",
    "May {d}",
    "2024-0{m}-{d:02d}",
    "{d}/{m}",
    "last Friday",
    "{d} days ago",
]
CARDS = ["[card ending {l4:04d}]", "[account]", "[phone]", "[id number]", "[email]"]
FILLER = ["hi", "hello", "thanks", "ok", "yes please", "um", "good morning"]
ASKS = [
    "I was charged {a} on {t} and I don't know why",
    "my card {c} was used for {a}",
    "please refund {a}",
    "a payment of {a} from {t} is missing",
    "why is the fee {a}",
    "I need help with {c} from {t}",
]
BOT = [
    "The fee is {a}.",
    "Transfers take {n} working days.",
    "Your limit is £{n}.",
    "I can help with that.",
    "Please check the app. " * 20 + "It costs {a} after {n} days.",
]
REASONS = ["urgent", "complaint", "customer_request", "low_confidence", None]


def _fill(template: str, rnd: random.Random) -> str:
    n = rnd.choice([1, 2, 3, 5, 10, 25, 99, 250, 1000, 2024])
    return template.format(
        n=n,
        c=rnd.randint(0, 99),
        k=rnd.randint(1, 9),
        h=rnd.randint(0, 999),
        d=rnd.randint(1, 28),
        m=rnd.randint(1, 9),
        l4=rnd.randint(0, 9999),
    )


def _generate(seed: int) -> tuple[list[Row], dict[str, str]]:
    rnd = random.Random(seed)
    rows: list[Row] = []
    adversarial_titles = {
        "p_plain": "How do I freeze a lost card?",
        "p_numbers": _fill("Why was I charged £{n}.{c:02d} on {d} March?", rnd),
        "p_percent": _fill("Is the rate {n}.{c}%?", rnd),
    }
    for _ in range(rnd.randint(1, 6)):
        if rnd.random() < 0.3:
            rows.append(Row("customer", rnd.choice(FILLER)))
        else:
            ask = rnd.choice(ASKS).format(
                a=_fill(rnd.choice(AMOUNTS), rnd),
                t=_fill(rnd.choice(DATES), rnd),
                c=_fill(rnd.choice(CARDS), rnd),
            )
            rows.append(Row("customer", ask))
        decision = rnd.choice(["answer", "clarify", "refuse", "handoff"])
        cite: dict[str, object] = {
            "problem_id": rnd.choice([*adversarial_titles, "p_unknown"]),
            "product": "p",
            "scenario": "s",
        }
        bot = rnd.choice(BOT).format(a=_fill(rnd.choice(AMOUNTS), rnd), n=rnd.randint(1, 30))
        reason = rnd.choice(REASONS) if decision == "handoff" else "confident"
        rows.append(Row("bot", bot, decision, reason, [cite] if rnd.random() < 0.7 else []))
    return rows, adversarial_titles


@pytest.mark.parametrize("seed", range(250))
def test_generated_briefs_are_numerically_consistent(seed: int) -> None:
    rows, titles = _generate(seed)
    brief = build_brief(rows, titles.get, session_id=f"s{seed}", bot_turns=seed % 5)
    assert check_numeric_consistency(brief, texts(rows)) == []
    customer = " ".join(r.text for r in rows if r.speaker == "customer")
    for item in brief.amounts + brief.dates + brief.account_hints:
        assert item in customer
    for hint in re.findall(r"\[card ending [0-9]{4}\]|\[account\]", customer):
        assert hint in brief.account_hints
    for said in brief.bot_said:
        assert any(said.removesuffix(" …") in " ".join(r.text.split()) for r in rows if r.speaker == "bot")
    assert brief.customer_goal in customer or brief.customer_goal in (titles.get(brief.problem or "", ""), "")
    if brief.problem_title:
        source = {f.value for t in texts(rows) for f in facts(t)}
        assert {f.value for f in facts(brief.problem_title)} <= source


@pytest.mark.parametrize("seed", range(50))
def test_generated_brief_against_a_different_transcript_is_caught(seed: int) -> None:
    rows, titles = _generate(seed)
    brief = build_brief(rows, titles.get)
    numbered = [
        f
        for v in brief.narrative_fields().values()
        for t in (v if isinstance(v, list) else [v])
        for f in facts(t)
    ]
    if numbered:
        assert check_numeric_consistency(brief, ["nothing numeric here"]) != []
