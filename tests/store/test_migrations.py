"""Alembic migrations: from empty, over a pre-migration database, from many processes at once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from server.store.migrate import current_revision, head_revision, migrate
from server.store.models import all_metadata
from server.store.store import Store, TurnRecord, create_store_engine, open_store_engine
from server.store.tables import Base, SessionRow, TurnRow
from server.store.tickets import TicketStore
from server.tickets import Ticket

REPO = Path(__file__).resolve().parents[2]


def _version_rows(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(text("SELECT version_num FROM alembic_version")))


def test_migrations_make_every_table_the_models_describe(store_url: str) -> None:
    engine = create_store_engine(store_url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), all_metadata()) == []
            tables = set(inspect(conn).get_table_names())
        assert set(all_metadata().tables) <= tables
        assert migrate(engine) == head_revision() and _version_rows(engine) == [head_revision()]  # idempotent
    finally:
        engine.dispose()


def test_a_pre_migration_database_is_stamped_and_keeps_its_data(store_url: str) -> None:
    # What the old create_store_engine made: create_all of the tables imported at the time.
    old = open_store_engine(store_url)
    Base.metadata.create_all(old, tables=[SessionRow.__table__, TurnRow.__table__])  # type: ignore[list-item]
    with old.begin() as db:
        at = "'2026-01-02 03:04:05'"
        db.execute(text("INSERT INTO sessions (id, channel, state, created_at, updated_at) "
                        f"VALUES ('old', 'voice', 'bot', {at}, {at})"))  # fmt: skip
        db.execute(text("INSERT INTO turns (session_id, seq, speaker, text, citations, created_at) "
                        f"VALUES ('old', 1, 'customer', 'hello', '[]', {at})"))  # fmt: skip
    old.dispose()

    store = Store.from_url(store_url)
    try:
        assert current_revision(store.engine) == head_revision() and _version_rows(store.engine) == [
            head_revision()
        ]  # stamped at INITIAL, then upgraded
        assert [(t.seq, t.text) for t in store.transcript("old")] == [(1, "hello")]
        assert store.transcript("old")[0].created_at.tzinfo is not None
        assert store.record_turn(TurnRecord("old", "bot", "Hello again.")) == 2
        tickets = TicketStore(store.engine)  # a table the old database lacked
        assert tickets.latest("old") is None and tickets.save(Ticket(session_id="old"), "close") == 1
    finally:
        store.close()


def test_many_workers_migrating_at_once_all_succeed(store_url: str) -> None:
    engines = [open_store_engine(store_url) for _ in range(4)]
    start = threading.Barrier(len(engines))
    results: list[str] = []
    errors: list[BaseException] = []

    def upgrade(engine: Engine) -> None:
        start.wait()
        try:
            results.append(migrate(engine))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=upgrade, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert errors == [] and results == [head_revision()] * len(engines)
        assert _version_rows(engines[0]) == [head_revision()]
    finally:
        for engine in engines:
            engine.dispose()


def test_teller_db_upgrade_from_two_processes_at_once(store_url: str) -> None:
    env = {**os.environ, "TELLER_STORE__URL": store_url, "TELLER_LOG__LEVEL": "warning"}
    argv = [sys.executable, "-m", "server.cli", "db", "upgrade"]
    procs = [subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]  # fmt: skip
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert all(f"store at revision {head_revision()}" in out for out, _ in outs)
    current = subprocess.run([sys.executable, "-m", "server.cli", "db", "current"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    assert current.stdout.startswith(head_revision())
