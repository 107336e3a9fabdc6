"""A real Chroma server for tests: ``chroma run`` of the pinned chromadb package on a free loopback port."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.harness.serve import free_port

# A first start on a loaded 2-core machine can be slow; the wait ends as soon as the heartbeat answers.
START_DEADLINE_S = 120.0


class ChromaServer:
    """One ``chroma run --path <workdir>/data`` process; ``url`` is what ``knowledge.chroma_url`` takes."""

    def __init__(self, workdir: Path) -> None:
        self._binary = Path(sys.executable).parent / "chroma"
        if not self._binary.exists():
            raise RuntimeError(f"{self._binary} is missing (it comes with the chromadb package)")
        self.workdir = workdir
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "chroma.log"

    def start(self) -> None:
        """Start the server and return once its heartbeat answers."""
        assert self._proc is None, "already running"
        argv = [str(self._binary), "run", "--path", str(self.workdir / "data")]
        argv += ["--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self._wait_until_ready()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_DEADLINE_S
        with httpx.Client(timeout=2) as client:
            while True:
                assert self._proc is not None
                if self._proc.poll() is not None:
                    raise RuntimeError(f"chroma exited: {self._log_tail()}")
                try:
                    if client.get(f"{self.url}/api/v2/heartbeat").status_code == 200:
                        return
                except httpx.TransportError:
                    pass  # not listening yet
                if time.monotonic() > deadline:
                    raise RuntimeError(f"chroma did not answer in {START_DEADLINE_S} s: {self._log_tail()}")
                time.sleep(0.05)  # polling a process that is starting up

    def _log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else "(no log)"
