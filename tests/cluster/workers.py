"""``teller serve --workers 2`` as a test fixture: the supervisor in a subprocess, its two workers on
consecutive free ports, worker 00 also on the pages port; stopped with SIGTERM (a drain)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from server.cluster.registry import SessionRegistry
from server.devcluster.process import free_port, free_port_run
from server.operator.redis_bus import redis_client
from tests.servers import REPO

START_S = 600.0  # two workers loading their models on a busy 2-core machine
DEADLINE_S = 300.0
TTL_S = 1.5


@dataclass
class Cluster:
    proc: subprocess.Popen[bytes]
    log: Path
    redis_url: str
    pages: str  # worker 00 on server.port
    ports: dict[str, int]  # worker id -> its own port

    def url(self, worker: str) -> str:
        return f"http://127.0.0.1:{self.ports[worker]}"

    def log_entries(self, message: str) -> list[dict[str, Any]]:
        entries = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{") and f'"msg": "{message}"' in line:
                entries.append(json.loads(line))
        return entries


def wait_until(condition: Callable[[], bool], what: str, within_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=10, trust_env=False).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def serve_workers(
    workdir: Path, *, host: str, redis_url: str, prefix: str, index_dir: Path, env: dict[str, str]
) -> Iterator[Cluster]:
    """Two workers on the light voice (eSpeak, no video), the registry on Redis; ``env`` adds to it."""
    base, pages = free_port_run(2), free_port()
    full_env = (
        os.environ
        | {
            "TELLER_OPERATOR__BUS": "redis",  # cluster.registry auto follows it
            "TELLER_REDIS__URL": redis_url,
            "TELLER_REDIS__KEY_PREFIX": prefix,
            "TELLER_SERVER__WORKER_BASE_PORT": str(base),
            "TELLER_CLUSTER__HOSTNAME": host,
            "TELLER_CLUSTER__HEARTBEAT_S": "0.3",
            "TELLER_CLUSTER__TTL_S": str(TTL_S),
            "TELLER_KNOWLEDGE__INDEX_DIR": str(index_dir),
            "TELLER_ADMIN__ENABLED": "false",
            "TELLER_VOICE__MODEL_CACHE_DIR": str(REPO / "var" / "models"),
            "TELLER_VOICE__TTS_ENGINE": "espeak",  # the lightest voice: no model file
            "TELLER_VOICE__VIDEO": "false",
            "TELLER_VOICE__SPEECH_CACHE_DIR": str(workdir / "speech"),
            "TELLER_LOG__LEVEL": "INFO",
        }
        | env
    )
    argv = [sys.executable, "-m", "server.cli", "serve", "--workers", "2", "--host", "127.0.0.1"]
    log = workdir / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*argv, "--port", str(pages)], cwd=REPO, env=full_env, stdout=out, stderr=subprocess.STDOUT
        )
    found = Cluster(proc, log, redis_url, f"http://127.0.0.1:{pages}", {})
    found.ports = {f"{host}-{i:02d}": base + i for i in range(2)}
    try:
        urls = [found.pages, *(found.url(w) for w in found.ports)]
        wait_until(lambda: proc.poll() is not None or all(answers(u) for u in urls), "workers up", START_S)
        assert proc.poll() is None, log.read_text()[-3000:]
        yield found
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)


@asynccontextmanager
async def registry_reader(
    cluster: Cluster, prefix: str, pending_ttl_s: float
) -> AsyncIterator[SessionRegistry]:
    """The cluster's registry as the tests read it (their own client)."""
    reader = SessionRegistry(
        redis_client(cluster.redis_url, socket_timeout_s=5.0),
        prefix=prefix,
        ttl_s=TTL_S,
        pending_ttl_s=pending_ttl_s,
    )
    try:
        yield reader
    finally:
        await reader.aclose()
