"""A real PostgreSQL 15 (the Debian package) for tests: a throwaway cluster on a free loopback port.

``server.devcluster.postgres`` runs it (fsync off, socket in its temp dir, as the ``postgres``
user when we are root); here are the fixtures: ``postgres`` (one cluster for the test
session), ``store_url`` (``sqlite`` and ``postgresql``, a fresh empty database each),
``pg_url`` (PostgreSQL only).
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.devcluster.postgres import PostgresCluster as _Cluster
from server.devcluster.process import free_port

__all__ = ["PostgresCluster", "free_port", "pg_url", "postgres", "store_url"]


class PostgresCluster(_Cluster):
    """A test cluster in a new temp dir, without fsync (``close`` deletes it)."""

    def __init__(self) -> None:
        super().__init__(Path(tempfile.mkdtemp(prefix="teller-pg-")), durable=False)


class _Shared:
    """One cluster per test process even though several test packages import these fixtures."""

    cluster: PostgresCluster | None = None
    users = 0
    lock = threading.Lock()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A running PostgreSQL cluster, shared by every test of the session."""
    with _Shared.lock:
        if _Shared.cluster is None:
            cluster = PostgresCluster()
            try:
                cluster.start()
            except BaseException:
                cluster.close()
                raise
            _Shared.cluster = cluster
        _Shared.users += 1
        shared = _Shared.cluster
    try:
        yield shared
    finally:
        with _Shared.lock:
            _Shared.users -= 1
            if _Shared.users == 0:
                shared.close()
                _Shared.cluster = None


@pytest.fixture()
def pg_url(postgres: PostgresCluster) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    postgres.ensure_running()
    name = postgres.new_database()
    try:
        yield postgres.url(name)
    finally:
        postgres.ensure_running()
        postgres.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.cluster)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store database: a SQLite file, or a new database on the test PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url
