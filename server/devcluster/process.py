"""A server started as a child process: probed until it is ready, stopped (or killed) on demand."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

START_DEADLINE_S = 60.0


class ServerFailed(RuntimeError):
    """A server exited or did not become ready; the message carries the tail of its log."""

    retryable = False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def free_port_run(count: int, host: str = "127.0.0.1") -> int:
    """A base port with ``count`` consecutive free ports from it (the workers' 81ii scheme)."""
    for _ in range(200):
        base = free_port(host)
        if base + count < 65_000 and all(_is_free(host, base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no run of {count} free ports")


def _is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def require(binary: str, package: str) -> str:
    """The path of ``binary``, or a clear error naming the Debian package that provides it."""
    path = shutil.which(binary)
    if path is None:
        raise ServerFailed(f"{binary} is not installed: `make system-packages` installs {package}")
    return path


def as_user(user: str) -> list[str]:
    """Run a command as ``user`` when we are root (postgres refuses to run as root)."""
    return ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []


class ServerProcess:
    """One child process writing to ``log_path``; ``start`` returns once ``ready()`` is true."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        ready: Callable[[], bool],
        *,
        env: dict[str, str] | None = None,
        deadline_s: float = START_DEADLINE_S,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._ready = ready
        self._env = env
        self._deadline_s = deadline_s
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        assert self._proc is None, f"{self.name} is already running"
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, env=self._env, start_new_session=True
            )
        deadline = time.monotonic() + self._deadline_s
        while not self._probe():
            if self._proc.poll() is not None:
                self._proc = None
                raise ServerFailed(f"{self.name} exited while starting: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise ServerFailed(
                    f"{self.name} was not ready in {self._deadline_s:.0f} s: {self.log_tail()}"
                )
            time.sleep(0.05)  # bounded poll while the server starts

    def _probe(self) -> bool:
        try:
            return self._ready()
        except OSError:
            return False

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM, then SIGKILL if it has not ended within ``timeout_s``."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait()

    def kill(self) -> None:
        """SIGKILL, like a crash."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


def tcp_open(host: str, port: int) -> Callable[[], bool]:
    """A readiness probe: something accepts TCP connections on ``host:port``."""

    def probe() -> bool:
        with socket.create_connection((host, port), timeout=1):
            return True

    return probe
