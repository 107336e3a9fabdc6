"""The transcript store on a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from server.store.store import Store, TurnRecord


def test_turns_are_masked_numbered_and_durable(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    store = Store.from_url(f"sqlite:///{db}")
    assert store.ensure_session("s1") is True
    assert store.ensure_session("s1") is False
    store.record_turn(TurnRecord("s1", "customer", "card 5500 0000 0000 0004, mail me at a.b@example.com"))
    seq = store.record_turn(TurnRecord("s1", "bot", "ok", decision="answer", citations=[{"problem_id": "p"}]))
    assert seq == 2
    store.close()
    # A second, independent connection sees the committed rows: nothing waits in memory.
    with sqlite3.connect(db) as raw:
        rows = raw.execute("select seq, speaker, text from turns order by seq").fetchall()
        mode = raw.execute("pragma journal_mode").fetchone()[0]
    assert mode == "wal"
    assert rows[0][2] == "card [card ending 0004], mail me at [email]"
    assert [r[0] for r in rows] == [1, 2]


def test_audit_records(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'a.db'}")
    store.audit("alice", "kb.publish", None, version=3)
    store.audit("bob", "session.takeover", "s9", reason="customer asked")
    assert [a.action for a in store.audit_log()] == ["kb.publish", "session.takeover"]
    assert store.audit_log("s9")[0].detail == {"reason": "customer asked"}
    store.close()


def _commits(store: Store) -> list[int]:
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda _conn: commits.append(1))
    return commits


def test_record_turns_commits_a_new_session_and_its_turns_at_once(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 't.db'}")
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


def test_record_turns_writes_all_or_nothing(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 't.db'}")
    store.ensure_session("s1")
    with pytest.raises(IntegrityError):  # a turn of a session that was never created
        store.record_turns([TurnRecord("nobody", "customer", "hello")])
    broken = TurnRecord("s1", None, "no speaker")  # type: ignore[arg-type]
    with pytest.raises(IntegrityError):
        store.record_turns([TurnRecord("s1", "customer", "first"), broken])
    assert store.transcript("s1") == [] and not store.session_exists("nobody")
    store.close()
