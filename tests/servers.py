"""Helpers for tests that serve the app: a free loopback port, ``teller serve`` in a subprocess."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_voice_models(server: uvicorn.Server, app: FastAPI, within_s: float = 900) -> None:
    """Load the voice models on the started ``server``'s own loop, as its first session would.

    A session loads them before its websocket is accepted or its offer answered: on a loaded
    machine that takes minutes, longer than a client's handshake waits. Loaded here, a test's
    first customer connects at once.
    """
    loop = server.servers[0].get_loop()
    asyncio.run_coroutine_threadsafe(app.state.voice.manager.services(), loop).result(within_s)


@contextmanager
def teller_process(env: dict[str, str], log_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``teller serve`` on a free port with ``env`` over this environment; yields it once it answers."""
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO, env=os.environ | env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:  # the process loads its models; poll until it answers
            assert proc.poll() is None, log_path.read_text()[-2000:]
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.5)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)


def ask(client: TestClient, text: str, session_id: str | None = None) -> dict[str, object]:
    """One ``POST /api/v1/ask`` that must succeed; its JSON."""
    body: dict[str, object] = {"text": text}
    if session_id:
        body["session_id"] = session_id
    response = client.post("/api/v1/ask", json=body)
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()
    return data
