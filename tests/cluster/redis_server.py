"""A real ``redis-server`` (Debian package) for tests: a free loopback port, no persistence, a temp dir."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

START_DEADLINE_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process; ``restart`` kills it (a crash: nothing is saved) and starts a new one
    on the same port."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (make system-packages installs it)")
        self._binary = binary
        self.workdir = workdir
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.workdir / "redis.log"

    def start(self) -> None:
        """Start the server and return once it answers PING."""
        assert self._proc is None, "already running"
        argv = [self._binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += [
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            "--logfile",
            str(self.log_path),
        ]
        self._proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self._wait_until_ready()

    def stop(self) -> None:
        """Kill the server (SIGKILL, like a crash) and wait for it to end."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
        if proc is not None:
            proc.wait(timeout=30)

    def restart(self) -> None:
        self.stop()
        self.start()

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_DEADLINE_S
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            while True:
                assert self._proc is not None
                if self._proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited: {self._log_tail()}")
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    pass  # not listening yet
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server did not answer PING in {START_DEADLINE_S} s: {self._log_tail()}"
                    )
                time.sleep(0.02)  # polling a process that is starting up
        finally:
            client.close()

    def _log_tail(self) -> str:
        return self.log_path.read_text()[-2000:] if self.log_path.exists() else "(no log)"
