"""PostgreSQL 15 (Debian package) in a directory of its own on a loopback port.

``initdb`` once, then ``postgres`` with its socket in that directory. As root the server runs
as the ``postgres`` system user, which then owns the directory.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from pathlib import Path

import psycopg

from server.devcluster.process import ServerFailed, ServerProcess, as_user, free_port

PG_BIN = Path(os.environ.get("TELLER_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "teller"


class PostgresCluster:
    """One ``postgres`` server; ``stop``/``start`` keep its port and data (an outage and a recovery).

    ``durable=False`` (tests) turns fsync and synchronous commit off.
    """

    def __init__(self, root: Path, *, port: int | None = None, durable: bool = True) -> None:
        if not (PG_BIN / "postgres").exists():
            raise ServerFailed(
                f"PostgreSQL is not under {PG_BIN}: `make system-packages` installs postgresql"
            )
        self.root = root
        self.data = root / "data"
        self.port = port or free_port()
        self._names = itertools.count(1)
        self._as_user = as_user("postgres")
        root.mkdir(parents=True, exist_ok=True)
        if self._as_user:
            shutil.chown(root, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                       "-E", "UTF8", "--no-sync", "--no-instructions"])  # fmt: skip
        argv = [str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1",
                "-k", str(root), "-c", "max_connections=200", "-c", "log_min_messages=warning"]  # fmt: skip
        if not durable:
            argv += ["-F", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        log = root / "postgres.log"
        if self._as_user:
            log.touch()
            shutil.chown(log, "postgres", "postgres")
        self._process = ServerProcess("postgres", [*self._as_user, *argv], log, self._accepts)

    def _run(self, argv: list[str]) -> None:
        subprocess.run([*self._as_user, *argv], check=True, capture_output=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"

    def _accepts(self) -> bool:
        try:
            with psycopg.connect(self.dsn(), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    @property
    def running(self) -> bool:
        return self._process.running

    def start(self) -> None:
        """Start the server; return once it accepts connections."""
        self._process.start()

    def ensure_running(self) -> None:
        """Start it again if it was left stopped."""
        if not self._process.running:
            self._process.kill()  # forget a process that died by itself
            self.start()

    def stop(self) -> None:
        """Fast shutdown (connections are cut, nothing committed is lost) and wait for it."""
        if self._process.running:
            subprocess.run([*self._as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                            "-w", "stop"], check=False, capture_output=True)  # fmt: skip
        self._process.stop()

    def close(self) -> None:
        """Stop and delete the cluster's directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """Create ``name`` unless it exists; its URL."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def new_database(self) -> str:
        name = f"t{os.getpid()}_{next(self._names)}"
        self.create_database(name)
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def terminate(self, pid: int) -> None:
        """End one backend (as an administrator would); return once it is gone."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s, 60000)", (pid,))
