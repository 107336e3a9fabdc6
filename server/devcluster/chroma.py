"""A Chroma server: ``chroma run`` of the pinned chromadb package, on a loopback port."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from server.devcluster.process import ServerFailed, ServerProcess, free_port

# A first start on a loaded 2-core machine can be slow; the wait ends as soon as it answers.
START_DEADLINE_S = 120.0


class ChromaServer:
    """One ``chroma run --path <workdir>/data``; ``url`` is what ``knowledge.chroma_url`` takes."""

    def __init__(self, workdir: Path, *, port: int | None = None) -> None:
        binary = Path(sys.executable).parent / "chroma"
        if not binary.exists():
            raise ServerFailed(f"{binary} is missing (it comes with the chromadb package)")
        self.workdir = workdir
        self.port = port or free_port()
        argv = [str(binary), "run", "--path", str(workdir / "data"), "--host", "127.0.0.1"]
        argv += ["--port", str(self.port)]
        self._process = ServerProcess(
            "chroma", argv, workdir / "chroma.log", self._answers, deadline_s=START_DEADLINE_S
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self._process.log_path

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/api/v2/heartbeat", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def start(self) -> None:
        """Start the server and return once its heartbeat answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._process.start()

    def stop(self) -> None:
        self._process.stop()
