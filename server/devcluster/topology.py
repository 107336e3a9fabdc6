"""The whole scale-out topology on one machine: Redis, PostgreSQL, Chroma, coturn, N workers, nginx.

Everything lives under one directory (``var/cluster`` for ``make run-cluster``); the
databases persist there between runs. The workers are ``teller serve --workers N`` (the
supervisor), configured only through the environment, as docker/compose.yaml does.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from server.devcluster.chroma import ChromaServer
from server.devcluster.coturn import TurnServer
from server.devcluster.edge import EdgeProxy
from server.devcluster.postgres import PostgresCluster
from server.devcluster.process import ServerProcess, free_port, free_port_run
from server.devcluster.redis import RedisServer

WORKER_START_DEADLINE_S = 300.0  # N workers load their models at once on a busy machine


@dataclass(frozen=True)
class ClusterPorts:
    """Loopback ports; ``run-cluster`` uses fixed ones, tests and benchmarks ``ClusterPorts.free()``."""

    https: int = 8443
    http: int = 8080
    worker_base: int = 8100
    pages: int = 8000
    redis: int = 6380
    postgres: int = 5433
    chroma: int = 8010
    turn: int = 3479

    @classmethod
    def free(cls, workers: int) -> ClusterPorts:
        base = free_port_run(workers)
        return cls(
            free_port(), free_port(), base, free_port(), free_port(), free_port(), free_port(), free_port()
        )


@dataclass
class LocalCluster:
    """Start with ``with LocalCluster(...) as cluster:``; everything is stopped when the block ends."""

    workdir: Path
    workers: int = 2
    ports: ClusterPorts = field(default_factory=ClusterPorts)
    extra_env: dict[str, str] = field(default_factory=dict)
    durable: bool = True
    # Another address of this host where customers of another network reach nginx and coturn
    # (bench/scale_out.py's customer namespace): both listen there too, and TURN URLs name it.
    public_ip: str | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.hostname = "local"
        self.redis = RedisServer(self.workdir / "redis", port=self.ports.redis, persist=self.durable)
        self.postgres = PostgresCluster(
            self.workdir / "postgres", port=self.ports.postgres, durable=self.durable
        )
        self.chroma = ChromaServer(self.workdir / "chroma", port=self.ports.chroma)
        edge_ips = ("127.0.0.1",) if self.public_ip is None else (self.public_ip, "127.0.0.1")
        self.turn = TurnServer(
            self.workdir / "coturn", self._secret("turn"), listen_ips=edge_ips, port=self.ports.turn
        )
        worker_ports = {self.worker_id(i): self.ports.worker_base + i for i in range(self.workers)}
        self.edge = EdgeProxy(
            self.workdir / "nginx",
            worker_ports,
            dispatch_port=self.ports.worker_base,
            https_port=self.ports.https,
            http_port=self.ports.http,
            listen_ips=edge_ips,
        )
        self.tellers: ServerProcess | None = None
        self._stops: list[Callable[[], None]] = []  # newest last

    def worker_id(self, index: int) -> str:
        return f"{self.hostname}-{index:02d}"

    def worker_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.ports.worker_base + index}"

    @property
    def url(self) -> str:
        """The customers' entry: nginx over TLS."""
        return self.edge.url

    def _secret(self, name: str) -> str:
        """A random secret kept in the cluster directory (so cookies and tokens outlive a restart)."""
        path = self.workdir / f"{name}.secret"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
            path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()

    def env(self) -> dict[str, str]:
        """The environment every teller process of this cluster runs with."""
        env = dict(os.environ)
        env.update(
            {
                "TELLER_SECRET_KEY": self._secret("teller"),
                "TELLER_STORE__URL": self.postgres.url("teller"),
                "TELLER_REDIS__URL": self.redis.url,
                "TELLER_OPERATOR__BUS": "redis",
                "TELLER_CLUSTER__REGISTRY": "redis",
                "TELLER_CLUSTER__HOSTNAME": self.hostname,
                "TELLER_KNOWLEDGE__CHROMA_URL": self.chroma.url,
                "TELLER_KNOWLEDGE__INDEX_DIR": str(self.workdir / "index"),
                "TELLER_TURN__SECRET": self.turn.secret,
                "TELLER_TURN__URLS": json.dumps(self.turn.urls),
                "TELLER_SERVER__PORT": str(self.ports.pages),
                "TELLER_SERVER__WORKER_BASE_PORT": str(self.ports.worker_base),
                "TELLER_SERVER__FORWARDED_ALLOW_IPS": "127.0.0.1",
                "TELLER_AUTH__COOKIE_SECURE": "true",
            }
        )
        env.update(self.extra_env)
        return env

    def teller(self, *args: str) -> None:
        """Run one ``teller`` command against the cluster (migrations, knowledge build)."""
        subprocess.run([sys.executable, "-m", "server.cli", *args], check=True, env=self.env())

    def _workers_healthy(self) -> bool:
        try:
            return all(
                httpx.get(f"{self.worker_url(i)}/healthz", timeout=2).status_code == 200
                for i in range(self.workers)
            )
        except httpx.TransportError:
            return False

    def start(self) -> None:
        self.redis.start()
        self._stops.append(self.redis.shutdown)
        for server in (self.postgres, self.chroma, self.turn):
            server.start()
            self._stops.append(server.stop)
        self.postgres.create_database("teller")
        self.teller("db", "upgrade")
        self.teller("kb", "build", "--if-missing")
        argv = [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--workers",
            str(self.workers),
            "--host",
            "127.0.0.1",
        ]
        self.tellers = ServerProcess(
            "teller",
            argv,
            self.workdir / "teller.log",
            self._workers_healthy,
            env=self.env(),
            deadline_s=WORKER_START_DEADLINE_S,
        )
        self.tellers.start()
        self.edge.start()
        self._stops.append(self.edge.stop)

    def stop(self) -> None:
        """Drain and stop the workers (SIGTERM), then every server, newest first."""
        if self.tellers is not None:
            self.tellers.stop(timeout_s=120)
        while self._stops:
            self._stops.pop()()

    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()
