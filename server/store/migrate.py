"""Bring a store's database to the newest schema with Alembic, safely from many processes at once.

``migrate(engine)`` runs in one transaction that first takes a lock every other migrating
process waits on (PostgreSQL: ``pg_advisory_xact_lock``; SQLite: ``BEGIN IMMEDIATE``, the
file's write lock), then looks at what is there:

- no tables: the revisions make them;
- the tables of the old ``create_all`` but no ``alembic_version`` (a database from before
  migrations): the tables it lacks are added, it is stamped at ``0001`` and upgraded from there;
- at some revision: upgraded to head (nothing to do when already there).

Alembic is configured here, in code (no ini file); the environment is ``migrations/env.py``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect, text

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
INITIAL = "0001"
# Tables the old create_all made; any of them without alembic_version marks a pre-migration database.
LEGACY_TABLES = frozenset({"sessions", "turns", "audit", "tickets", "feedback", "staff_users",
                           "kb_drafts", "kb_golden"})  # fmt: skip
_PG_LOCK_KEY = 0x7E11E7  # pg_advisory_xact_lock key: "teller" store migrations
_SQLITE_WAIT_MS = 60_000


def alembic_config(connection: Connection | None = None, *, with_models: bool = False) -> Config:
    """Alembic's config for the store; ``with_models`` loads model metadata (for autogenerate)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["with_models"] = with_models
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None before any migration."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> str:
    """Upgrade the database to head (stamping a pre-migration one first); return its revision."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # wait for another process's migration rather than fail after 5 s
            conn.exec_driver_sql(f"PRAGMA busy_timeout={_SQLITE_WAIT_MS}")
            conn.commit()
        try:
            with conn.begin():
                _lock(conn)
                config = alembic_config(conn)
                if _pre_migration(conn):
                    log.warning(
                        "store: a database without migrations; adding what it lacks, stamping %s", INITIAL
                    )
                    _initial_metadata(config).create_all(conn, checkfirst=True)
                    command.stamp(config, INITIAL)
                command.upgrade(config, "head")
                revision = MigrationContext.configure(conn).get_current_revision()
        finally:
            if sqlite:
                conn.rollback()
                conn.exec_driver_sql("PRAGMA busy_timeout=5000")
                conn.commit()
    assert revision is not None
    return revision


def _lock(conn: Connection) -> None:
    """Serialise migrations: every other process waits here until this transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the file's write lock, held to COMMIT


def _pre_migration(conn: Connection) -> bool:
    tables = set(inspect(conn).get_table_names())
    return "alembic_version" not in tables and bool(tables & LEGACY_TABLES)


def _initial_metadata(config: Config) -> MetaData:
    script = ScriptDirectory.from_config(config).get_revision(INITIAL)
    assert script is not None
    metadata: MetaData = script.module.metadata
    return metadata
