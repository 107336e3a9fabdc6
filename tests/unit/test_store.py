"""The transcript store, on a real SQLite file and on a real PostgreSQL (``store_url``)."""

from __future__ import annotations

import sqlite3
from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from server.store.store import Store, TurnRecord


def test_turns_are_masked_numbered_and_durable(store_url: str) -> None:
    store = Store.from_url(store_url)
    assert store.ensure_session("s1") is True
    assert store.ensure_session("s1") is False
    store.record_turn(TurnRecord("s1", "customer", "card 5500 0000 0000 0004, mail me at a.b@example.com"))
    seq = store.record_turn(TurnRecord("s1", "bot", "ok", decision="answer", citations=[{"problem_id": "p"}]))
    assert seq == 2
    store.close()
    # A second, independent store sees the committed rows: nothing waits in memory.
    again = Store.from_url(store_url)
    turns = again.transcript("s1")
    again.close()
    assert turns[0].text == "card [card ending 0004], mail me at [email]"
    assert [t.seq for t in turns] == [1, 2] and turns[1].citations == [{"problem_id": "p"}]
    assert all(t.created_at.tzinfo is not None and t.created_at.utcoffset() == UTC.utcoffset(None)
               for t in turns)  # fmt: skip


def test_sqlite_is_in_wal_mode_and_readable_by_another_connection(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    store = Store.from_url(f"sqlite:///{db}")
    store.record_turns([TurnRecord("s1", "customer", "call 07700 900123")], channel="text")
    store.close()
    with sqlite3.connect(db) as raw:
        rows = raw.execute("select seq, text from turns").fetchall()
        mode = raw.execute("pragma journal_mode").fetchone()[0]
    assert mode == "wal" and rows == [(1, "call [phone]")]


def test_audit_records(store_url: str) -> None:
    store = Store.from_url(store_url)
    store.audit("alice", "kb.publish", None, version=3)
    store.audit("bob", "session.takeover", "s9", reason="customer asked")
    assert [a.action for a in store.audit_log()] == ["kb.publish", "session.takeover"]
    assert store.audit_log("s9")[0].detail == {"reason": "customer asked"}
    assert store.audit_log()[0].id < store.audit_log()[1].id and store.audit_log()[0].at.tzinfo is not None
    store.close()


def _commits(store: Store) -> list[int]:
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda _conn: commits.append(1))
    return commits


def test_record_turns_commits_a_new_session_and_its_turns_at_once(store_url: str) -> None:
    store = Store.from_url(store_url)
    commits = _commits(store)
    seqs = store.record_turns(
        [TurnRecord("s1", "customer", "call me on 07700 900123"), TurnRecord("s1", "bot", "Sure.")],
        channel="voice",
    )
    assert seqs == [1, 2] and len(commits) == 1
    assert store.session_exists("s1") and store.ensure_session("s1") is False
    assert store.record_turns([TurnRecord("s1", "customer", "thanks")], channel="voice") == [3]
    assert store.record_turn(TurnRecord("s1", "bot", "Bye.")) == 4
    turns = store.transcript("s1")
    assert [(t.seq, t.speaker) for t in turns] == [(1, "customer"), (2, "bot"), (3, "customer"), (4, "bot")]
    assert turns[0].text == "call me on [phone]" and turns[0].created_at is not None
    assert store.record_turns([]) == []
    with pytest.raises(ValueError, match="one session"):
        store.record_turns([TurnRecord("s1", "bot", "a"), TurnRecord("s2", "bot", "b")])
    store.close()


def test_record_turns_writes_all_or_nothing(store_url: str) -> None:
    store = Store.from_url(store_url)
    store.ensure_session("s1")
    with pytest.raises(IntegrityError):  # a turn of a session that was never created
        store.record_turns([TurnRecord("nobody", "customer", "hello")])
    broken = TurnRecord("s1", None, "no speaker")  # type: ignore[arg-type]
    with pytest.raises(IntegrityError):
        store.record_turns([TurnRecord("s1", "customer", "first"), broken])
    assert store.transcript("s1") == [] and not store.session_exists("nobody")
    store.close()


def test_what_was_spoken_is_recorded_masked(store_url: str) -> None:
    store = Store.from_url(store_url)
    turn = TurnRecord("s1", "bot", "Your card ends 4111 1111 1111 1111.")
    seq = store.record_turns([turn], channel="voice")[0]
    store.set_spoken("s1", seq, "Your card ends 4111 1111 1111 1111")
    assert store.transcript("s1")[0].spoken_text == "Your card ends [card ending 1111]"
    with pytest.raises(KeyError):
        store.set_spoken("s1", 99, "nothing")
    store.close()
