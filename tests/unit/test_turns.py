"""A text turn is stored in one transaction, before the reply is returned."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from server.brain.brain import Brain, BrainReply, Citation
from server.brain.policy import Decision, Reason
from server.store.store import Store
from server.turns import record_customer_turn, take_text_turn


class _Brain:
    """Stands in for the Brain: answers every question the same way, or fails."""

    def __init__(self, *, fails: bool = False) -> None:
        self.fails = fails

    def respond(self, session_id: str, text: str, *, defer_wording: bool = False) -> BrainReply:
        if self.fails:
            raise RuntimeError("retrieval is down")
        cited = Citation("card_arrival", "debit_card", "card_delivery", ("card_arrival",), 3)
        answer = "It arrives in 3 days."
        return BrainReply(session_id, Decision.ANSWER, Reason.CONFIDENT, answer, 0.9, (cited,), text)


@pytest.fixture()
def store(store_url: str) -> Store:
    """A store on SQLite and on PostgreSQL (``tests/store/pg.py``)."""
    return Store.from_url(store_url)


def _commits(store: Store) -> list[int]:
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda _conn: commits.append(1))
    return commits


def _brain(fails: bool = False) -> Brain:
    return _Brain(fails=fails)  # type: ignore[return-value]


def test_question_and_reply_are_committed_together(store: Store) -> None:
    commits = _commits(store)
    reply = take_text_turn(_brain(), store, "s1", "where is my card 4111 1111 1111 1111?")
    assert reply.decision is Decision.ANSWER and len(commits) == 1
    turns = store.transcript("s1")
    assert [(t.seq, t.speaker) for t in turns] == [(1, "customer"), (2, "bot")]
    assert turns[0].text == "where is my card [card ending 1111]?"
    assert turns[1].spoken_text == reply.text and turns[1].decision == "answer"
    assert turns[1].citations[0]["problem_id"] == "card_arrival"
    take_text_turn(_brain(), store, "s1", "thanks")
    assert [t.seq for t in store.transcript("s1")] == [1, 2, 3, 4] and len(commits) == 2
    store.close()


def test_the_question_is_kept_when_the_brain_fails(store: Store) -> None:
    with pytest.raises(RuntimeError, match="retrieval is down"):
        take_text_turn(_brain(fails=True), store, "s2", "my card has not arrived")
    assert [(t.speaker, t.text) for t in store.transcript("s2")] == [("customer", "my card has not arrived")]
    store.close()


def test_a_customer_turn_creates_its_session_in_the_same_commit(store: Store) -> None:
    commits = _commits(store)
    assert record_customer_turn(store, "v1", "hello", "voice") == 1
    assert len(commits) == 1 and store.session_exists("v1")
    assert record_customer_turn(store, "v1", "again", "voice") == 2
    store.close()
