"""Helpers for tests that serve the app: ``teller serve`` in a subprocess, one ``/ask``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from bench.harness.serve import free_port

REPO = Path(__file__).resolve().parents[1]


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


def ask(
    client: TestClient, text: str, session_id: str | None = None, token: object = None
) -> dict[str, object]:
    """One ``POST /api/v1/ask`` that must succeed; its JSON. ``token``: the conversation's (the
    ``token`` of its first reply), which a later question of it must carry."""
    body: dict[str, object] = {"text": text}
    if session_id:
        body["session_id"] = session_id
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post("/api/v1/ask", json=body, headers=headers)
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()
    return data
