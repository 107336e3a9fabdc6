"""A card number spoken across two customer turns is masked in both stored turns (``server.turn_digits``),
through the real storing code path on a real SQLite file: the whole number never reaches the disk."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from server.brain.brain import Brain, BrainReply, Citation
from server.brain.policy import Decision, Reason
from server.store.store import Store
from server.turn_digits import HOLD_S, PendingDigits, SessionDigits
from server.turns import record_customer_turn, take_text_turn

CARD = "4111111111111112"


class _Brain:
    def respond(self, session_id: str, text: str, *, defer_wording: bool = False) -> BrainReply:
        cited = Citation("card_lost", "debit_card", "cards", ("card_lost",), 3)
        return BrainReply(session_id, Decision.ANSWER, Reason.CONFIDENT, "Go on.", 0.9, (cited,), text)


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return tmp_path / "turns.db"


@pytest.fixture()
def store(db: Path) -> Store:
    return Store.from_url(f"sqlite:///{db}")


def _on_disk(db: Path) -> str:
    """Every byte the database keeps (file and write-ahead log), digits only."""
    raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    return re.sub(r"[^0-9]", "", raw.decode("latin-1"))


def _customer_texts(store: Store, session_id: str) -> list[str]:
    return [t.text for t in store.transcript(session_id) if t.speaker == "customer"]


def test_text_turns_join_a_number_split_across_two_questions(store: Store, db: Path) -> None:
    brain: Brain = _Brain()  # type: ignore[assignment]
    digits = SessionDigits()
    take_text_turn(brain, store, "s1", "my card number is 4111 1111", digits=digits)
    take_text_turn(brain, store, "s1", "1111 1112. It was stolen", digits=digits)
    take_text_turn(brain, store, "s1", "1234 thanks", digits=digits)  # a new line, not joined back
    assert _customer_texts(store, "s1") == [
        "my card number is [card ending 1112]",
        "[card ending 1112]. It was stolen",
        "1234 thanks",
    ]
    store.close()
    assert CARD not in _on_disk(db)
    with sqlite3.connect(db) as raw:
        assert raw.execute("select count(*) from turns where text like '%4111%'").fetchone() == (0,)


def test_voice_turns_spoken_in_words_over_three_turns(store: Store) -> None:
    pending = PendingDigits()
    store.ensure_session("v1", "voice")
    said = ["my card is four one one one", "one one one one", "one one one one", "one one one two"]
    for text in said:
        line = pending.mask(text)
        pending.stored(line, record_customer_turn(store, "v1", line.text, "voice", line.amends))
    stored = _customer_texts(store, "v1")
    assert stored == ["my card is [card ending 1112]"] + ["[card ending 1112]"] * 3
    assert not any("one" in t for t in stored)


def test_a_turn_merged_with_the_one_before_rewrites_that_one(store: Store) -> None:
    pending = PendingDigits()
    first = pending.mask("my card is 4111 1111")
    pending.stored(first, record_customer_turn(store, "m1", first.text, "voice", first.amends))
    merged = pending.mask("my card is 4111 1111 1111 1112", repeats_last=True)
    pending.stored(merged, record_customer_turn(store, "m1", merged.text, "voice", merged.amends))
    assert _customer_texts(store, "m1") == ["my card is [card ending 1112]"] * 2


def test_an_amend_never_overwrites_a_row_that_changed(store: Store) -> None:
    pending = PendingDigits()
    first = pending.mask("card 4111 1111")
    seq = record_customer_turn(store, "x1", first.text, "text")
    pending.stored(first, seq)
    line = pending.mask("1111 1112")
    assert [a.seq for a in line.amends] == [seq]
    record_customer_turn(store, "x2", line.text, "text", line.amends)  # another session: no such row
    assert _customer_texts(store, "x1") == ["card 4111 1111"]


def test_nothing_is_joined_after_the_hold_or_across_ordinary_numbers() -> None:
    now = [0.0]
    pending = PendingDigits(clock=lambda: now[0])
    pending.stored(pending.mask("card 4111 1111"), 1)
    now[0] = HOLD_S + 1
    late = pending.mask("1111 1112")
    assert late.amends == () and late.text == "1111 1112"
    pending = PendingDigits()
    pending.stored(pending.mask("I paid 2500"), 1)
    assert pending.mask("20 pounds more").amends == ()
    pending.stored(pending.mask("my card ends"), 1)  # no number at the end: nothing kept
    assert pending.mask("4111 1111").amends == ()


def test_a_keyword_in_one_turn_and_its_value_in_the_next() -> None:
    pending = PendingDigits()
    pending.stored(pending.mask("the security code is 12"), 1)
    line = pending.mask("3")
    assert line.text == "[security code]" and [a.text for a in line.amends] == [
        "the security code is [security code]"
    ]
