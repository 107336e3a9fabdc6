"""The audit hash chain on SQLite and PostgreSQL: verify, tampering found, one chain under
concurrent appends from two workers, append-only triggers, the SIEM export."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from server.store.audit import verify_chain
from server.store.store import Store, TurnRecord, create_store_engine

KEY = b"test-audit-key"


@pytest.fixture()
def store(store_url: str) -> Iterator[Store]:
    store = Store(create_store_engine(store_url), audit_key=KEY)
    try:
        yield store
    finally:
        store.close()


def _fill(store: Store) -> None:
    store.audit("alice", "auth.login", target="user:alice", client="127.0.0.1")
    store.audit("bob", "auth.login", target="user:bob", outcome="failed", reason="bad_credentials")
    store.audit("olivia", "transcript.view", "s1")
    store.audit("olivia", "mode_change", "s1", previous="bot", mode="human", why="take over", ratio=0.25)
    store.audit("cli:root", "user.disable", target="user:bob", sessions_ended=2, note="ünïcode")


def _tamper(engine: Engine, *statements: str) -> None:
    """What a database administrator could do: lift the append-only triggers, then change rows."""
    with engine.begin() as db:
        _lift_triggers(db)
        for statement in statements:
            db.execute(text(statement))


def _lift_triggers(db: Connection) -> None:
    if db.dialect.name == "postgresql":
        db.execute(text("ALTER TABLE audit DISABLE TRIGGER USER"))
    else:
        db.execute(text("DROP TRIGGER audit_no_update"))
        db.execute(text("DROP TRIGGER audit_no_delete"))


def test_a_real_log_verifies_and_exports_as_json_lines(store: Store) -> None:
    _fill(store)
    report = verify_chain(store.engine, KEY)
    assert report.ok and report.rows == 5 and report.legacy == 0
    assert not verify_chain(store.engine, b"another key").ok  # the hashes need the key
    out = io.StringIO()
    from server.store.audit import export_jsonl

    assert export_jsonl(store.engine, out) == 5
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["seq"] for r in lines] == [1, 2, 3, 4, 5]
    first, failed, viewed = lines[0], lines[1], lines[2]
    assert set(first) == {"ts", "seq", "actor", "action", "target", "outcome", "session_id", "details",
                          "prev_hash", "hash"}  # fmt: skip
    assert first["ts"].endswith("Z") and first["ts"][10] == "T"
    assert (first["actor"], first["action"], first["target"], first["outcome"]) == (
        "alice", "auth.login", "user:alice", "ok")  # fmt: skip
    assert failed["outcome"] == "failed" and failed["details"] == {"reason": "bad_credentials"}
    assert viewed["target"] == "session:s1" and viewed["session_id"] == "s1"
    assert lines[1]["prev_hash"] == first["hash"] and first["prev_hash"] == ""
    out = io.StringIO()
    assert export_jsonl(store.engine, out, since_seq=3) == 2


def test_an_edited_row_is_found(store: Store) -> None:
    _fill(store)
    _tamper(store.engine, "UPDATE audit SET actor = 'mallory' WHERE seq = 3")
    report = verify_chain(store.engine, KEY)
    assert not report.ok and report.bad_seq == 3 and "edited" in (report.bad or "")


def test_an_edited_detail_is_found(store: Store) -> None:
    _fill(store)
    _tamper(store.engine, """UPDATE audit SET detail = '{"sessions_ended": 0, "note": "x"}' WHERE seq = 5""")
    assert verify_chain(store.engine, KEY).bad_seq == 5


def test_a_deleted_row_is_found(store: Store) -> None:
    _fill(store)
    _tamper(store.engine, "DELETE FROM audit WHERE seq = 2")
    report = verify_chain(store.engine, KEY)
    assert not report.ok and report.bad_seq == 3 and "deleted" in (report.bad or "")


def test_deleting_the_last_rows_is_found(store: Store) -> None:
    _fill(store)
    _tamper(store.engine, "DELETE FROM audit WHERE seq >= 4")
    report = verify_chain(store.engine, KEY)
    assert not report.ok and "last rows" in (report.bad or "")


def test_reordered_rows_are_found(store: Store) -> None:
    _fill(store)
    _tamper(
        store.engine,
        "UPDATE audit SET seq = -1 WHERE seq = 2",
        "UPDATE audit SET seq = 2 WHERE seq = 3",
        "UPDATE audit SET seq = 3 WHERE seq = -1",
    )
    report = verify_chain(store.engine, KEY)
    assert not report.ok and report.bad_seq == 2


def test_the_database_refuses_updates_and_deletes(store: Store) -> None:
    _fill(store)
    for statement in ("UPDATE audit SET actor = 'mallory' WHERE seq = 1", "DELETE FROM audit WHERE seq = 1"):
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as db:
            db.execute(text(statement))
    assert verify_chain(store.engine, KEY).ok


def test_two_workers_appending_at_once_keep_one_chain(store_url: str) -> None:
    stores = [Store(create_store_engine(store_url), audit_key=KEY) for _ in range(2)]
    start = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def append(worker: int, store: Store) -> None:
        start.wait()
        try:
            for n in range(25):
                store.audit(f"worker-{worker}", "test.append", n=n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(i, s)) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        report = verify_chain(stores[0].engine, KEY)
        assert report.ok and report.rows == 50
        assert [r.seq for r in stores[0].audit_log()] == list(range(1, 51))
    finally:
        for store in stores:
            store.close()


def test_operator_lines_name_their_operator(store: Store) -> None:
    store.ensure_session("s1", "voice")
    store.record_turn(TurnRecord("s1", "customer", "hello"))
    store.record_turn(TurnRecord("s1", "operator", "Hello, I am Olivia.", operator="olivia"))
    assert [(t.speaker, t.operator) for t in store.transcript("s1")] == [
        ("customer", None),
        ("operator", "olivia"),
    ]


def test_rows_from_before_the_chain_are_kept_counted_and_chained_after(store_url: str) -> None:
    from alembic import command

    from server.store.migrate import alembic_config
    from server.store.store import open_store_engine

    engine = open_store_engine(store_url)
    try:
        with engine.begin() as conn:  # a database at 0001 with an audit log of the old kind
            command.upgrade(alembic_config(conn), "0001")
            for actor in ("alice", "bob"):
                conn.execute(
                    text(
                        "INSERT INTO audit (at, actor, action, session_id, detail) "
                        "VALUES ('2026-01-02 03:04:05', :actor, 'kb.publish', NULL, '{}')"
                    ),
                    {"actor": actor},
                )
    finally:
        engine.dispose()
    store = Store(create_store_engine(store_url), audit_key=KEY)
    try:
        report = verify_chain(store.engine, KEY)
        assert report.ok and (report.rows, report.legacy) == (2, 2)
        store.audit("carol", "auth.login")
        report = verify_chain(store.engine, KEY)
        assert report.ok and (report.rows, report.legacy) == (3, 2)
        assert [(r.seq, r.actor, r.hash is None) for r in store.audit_log()] == [
            (1, "alice", True),
            (2, "bob", True),
            (3, "carol", False),
        ]
    finally:
        store.close()
