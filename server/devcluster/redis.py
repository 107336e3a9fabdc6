"""``redis-server`` (Debian package) on a loopback port, its files in one directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis

from server.devcluster.process import ServerProcess, free_port, require


class RedisServer:
    """One ``redis-server``; ``stop`` kills it (a crash), ``restart`` starts it again on the same port.

    ``persist`` keeps an append-only file in ``workdir`` (the local cluster); tests run without.
    """

    def __init__(self, workdir: Path, *, port: int | None = None, persist: bool = False) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        argv = [require("redis-server", "redis-server"), "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "yes" if persist else "no", "--dir", str(workdir)]
        argv += ["--logfile", str(self.log_path)]
        self._process = ServerProcess("redis-server", argv, workdir / "redis.stdout", self._answers)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.workdir / "redis.log"

    def _answers(self) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()

    def start(self) -> None:
        """Start the server and return once it answers PING."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._process.start()

    def stop(self) -> None:
        """Kill the server (SIGKILL, like a crash) and wait for it to end."""
        self._process.kill()

    def shutdown(self) -> None:
        """A clean stop (SIGTERM: an append-only file is flushed)."""
        self._process.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)
