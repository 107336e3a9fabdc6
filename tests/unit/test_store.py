"""The transcript store on a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

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
