"""A real PostgreSQL 15 (the Debian package) for tests: a throwaway cluster on a free loopback port.

``initdb`` into a temp dir, ``postgres`` with fsync off and its socket in that dir, a database
per test. As root the server runs as the ``postgres`` system user (``runuser``), which owns
the temp dir. Fixtures: ``postgres`` (one cluster for the test session), ``store_url``
(``sqlite`` and ``postgresql``, a fresh empty database each), ``pg_url`` (PostgreSQL only).
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

PG_BIN = Path(os.environ.get("TELLER_PG_BIN", "/usr/lib/postgresql/15/bin"))
START_DEADLINE_S = 60.0
SUPERUSER = "teller"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresCluster:
    """One ``postgres`` server; ``stop``/``start`` keep its port and data (an outage and a recovery)."""

    def __init__(self) -> None:
        if not (PG_BIN / "postgres").exists():
            raise RuntimeError(f"PostgreSQL is not under {PG_BIN} (make system-packages installs it)")
        self.root = Path(tempfile.mkdtemp(prefix="teller-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # postgres refuses to run as root
            shutil.chown(self.root, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                   "-E", "UTF8", "--no-sync", "--no-instructions"])  # fmt: skip

    def _run(self, argv: list[str]) -> None:
        subprocess.run([*self._as_user, *argv], check=True, capture_output=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"

    def start(self) -> None:
        """Start the server; return once it accepts connections."""
        assert self._proc is None, "already running"
        argv = [str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1",
                "-k", str(self.root), "-F", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=200", "-c", "log_min_messages=warning"]  # fmt: skip
        log = (self.root / "postgres.log").open("ab")
        self._proc = subprocess.Popen([*self._as_user, *argv], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait_until_ready()

    def ensure_running(self) -> None:
        """Start it again if a test left it stopped."""
        if self._proc is None:
            self.start()

    def stop(self) -> None:
        """Fast shutdown (SIGINT: connections are cut, nothing is lost) and wait for it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            subprocess.run([*self._as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                            "-w", "stop"], check=False, capture_output=True)  # fmt: skip
        proc.wait(timeout=60)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def new_database(self) -> str:
        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def terminate(self, pid: int) -> None:
        """End one backend (as an administrator would) and wait until it is gone."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            deadline = time.monotonic() + START_DEADLINE_S
            while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
                assert time.monotonic() < deadline, f"backend {pid} did not end"
                time.sleep(0.01)  # bounded poll: the backend is exiting

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {self._log_tail()}")
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                pass  # not accepting connections yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not start in {START_DEADLINE_S} s: {self._log_tail()}")
            time.sleep(0.05)  # bounded poll: the server is starting

    def _log_tail(self) -> str:
        try:
            return (self.root / "postgres.log").read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"


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
