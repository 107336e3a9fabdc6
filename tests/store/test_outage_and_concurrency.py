"""Many writers on one session, a connection dropped mid-write, and an outage that outlasts the retries."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Connection, event

from server.store.retry import RetryPolicy, StoreUnavailable
from server.store.store import Store, TurnRecord, create_store_engine, open_store_engine
from tests.store.pg import PostgresCluster, free_port

FAST = RetryPolicy(attempts=3, first_delay_s=0.01, max_delay_s=0.02)


def test_concurrent_writers_get_unique_consecutive_seqs(store_url: str) -> None:
    stores = [Store(create_store_engine(store_url)) for _ in range(2)]  # two workers
    stores[0].ensure_session("s", "voice")
    writers, calls = 6, 8
    start = threading.Barrier(writers)
    seqs: list[int] = []
    errors: list[BaseException] = []

    def write(n: int) -> None:
        store = stores[n % 2]
        start.wait()
        try:
            for i in range(calls):
                pair = [TurnRecord("s", "customer", f"{n}.{i} q"), TurnRecord("s", "bot", f"{n}.{i} a")]
                seqs.extend(store.record_turns(pair, channel="voice"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert errors == []
        total = writers * calls * 2
        assert sorted(seqs) == list(range(1, total + 1))
        turns = stores[1].transcript("s")
        assert [t.seq for t in turns] == list(range(1, total + 1))
        for q, a in zip(turns[::2], turns[1::2], strict=True):  # each call's pair stays together
            assert q.text.removesuffix(" q") == a.text.removesuffix(" a")
    finally:
        for store in stores:
            store.close()


@pytest.mark.cluster
def test_a_connection_dropped_mid_write_is_retried_and_committed(
    pg_url: str, postgres: PostgresCluster
) -> None:
    store = Store(create_store_engine(pg_url), FAST)
    store.ensure_session("s", "voice")
    dropped: list[int] = []

    def drop_once(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO turns") and not dropped:
            pid = conn.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
            dropped.append(pid)
            postgres.terminate(pid)  # the session row is locked, the transaction is open: it dies

    event.listen(store.engine, "before_cursor_execute", drop_once)
    try:
        pair = [TurnRecord("s", "customer", "is it saved?"), TurnRecord("s", "bot", "Yes.")]
        seqs = store.record_turns(pair)
        assert dropped and seqs == [1, 2]
        assert [(t.seq, t.text) for t in store.transcript("s")] == [(1, "is it saved?"), (2, "Yes.")]
    finally:
        store.close()


@pytest.mark.cluster
def test_an_outage_past_the_retries_raises_a_retryable_error(pg_url: str, postgres: PostgresCluster) -> None:
    store = Store(create_store_engine(pg_url), FAST)
    store.record_turns([TurnRecord("s", "customer", "first")], channel="voice")
    postgres.stop()
    try:
        with pytest.raises(StoreUnavailable) as raised:
            store.record_turn(TurnRecord("s", "customer", "said while the database was down"))
        assert raised.value.retryable is True and raised.value.attempts == FAST.attempts
        with pytest.raises(StoreUnavailable):
            store.audit("op", "session.takeover", "s")
    finally:
        postgres.start()
    assert store.record_turn(TurnRecord("s", "customer", "back")) == 2  # the lost line was never acknowledged
    assert [t.text for t in store.transcript("s")] == ["first", "back"]
    store.close()


def test_a_database_that_never_answers_raises_a_retryable_error() -> None:
    store = Store(open_store_engine(f"postgresql+psycopg://teller@127.0.0.1:{free_port()}/none"), FAST)
    with pytest.raises(StoreUnavailable) as raised:
        store.record_turns([TurnRecord("s", "customer", "hello")], channel="voice")
    assert raised.value.retryable and "could not save the turns" in str(raised.value)
    store.close()
