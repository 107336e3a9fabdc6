"""Serve the app in-process: uvicorn in a thread on a free loopback port.

``serve_app(app)`` serves any built app (tests); ``serve(**voice_overrides)`` builds one for a
benchmark (the live knowledge index in var/index, a throw-away store).
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from server.app import create_app
from server.config import Settings, load_settings
from server.devcluster.process import free_port
from server.limits.ws_size import WS_MAX_SIZE
from server.runtime import Runtime, open_runtime

GRACEFUL_SHUTDOWN_S = 2.0
START_TIMEOUT_S = 120  # a busy machine can take long to import and start the app's lifespan


VOICE_LOAD_TIMEOUT_S = 900


def _load_voice_models(server: uvicorn.Server, app: FastAPI) -> None:
    """Load the voice models on the started server's own loop, as its first session would.

    A session loads them before its websocket is accepted or its offer answered: on a loaded
    machine that takes minutes, longer than a client's handshake waits. Loaded here, a test's
    first customer connects at once.
    """
    loop = server.servers[0].get_loop()
    models = app.state.services.voice.manager.services()
    asyncio.run_coroutine_threadsafe(models, loop).result(VOICE_LOAD_TIMEOUT_S)


@contextmanager
def serve_app(
    app: FastAPI, *, name: str = "teller-uvicorn", log_level: str = "warning", load_voice: bool = False
) -> Iterator[str]:
    """Serve ``app`` on a free loopback port until the block ends; yields its base URL.

    ``load_voice`` loads the speech models before yielding (tests whose clients must not wait).
    """
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level=log_level,
            log_config=None,
            lifespan="on",
            ws="websockets-sansio",  # as `teller serve`
            ws_max_size=WS_MAX_SIZE,
            # Open keep-alive and event-stream connections (gradio's) are not waited on for long.
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:  # waiting for the server thread to listen, not backpressure
        if not thread.is_alive():
            raise RuntimeError("uvicorn stopped before it started listening")
        if time.monotonic() > deadline:
            raise TimeoutError(f"uvicorn did not start within {START_TIMEOUT_S} s")
        time.sleep(0.05)
    app.state.serve_loop = server.servers[0].get_loop()  # tests await the app's own coroutines on it
    try:
        if load_voice:
            _load_voice_models(server, app)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@dataclass
class Served:
    base_url: str
    app: FastAPI
    runtime: Runtime
    settings: Settings


def unlimited_http() -> dict[str, Any]:
    """The ``limits`` settings with no per-address or per-conversation HTTP limit: every bench
    client is 127.0.0.1, and the abuse limits would measure themselves."""
    unlimited = {"rate": 1e6, "burst": 1_000_000}
    names = ("ask_per_ip", "ask_per_session", "session_per_ip", "signalling_per_ip")
    return {**load_settings().limits.model_dump(), **dict.fromkeys(names, unlimited)}


@contextmanager
def serve(**voice: Any) -> Iterator[Served]:
    with tempfile.TemporaryDirectory(prefix="teller-bench-") as tmp:
        settings = load_settings(
            store={"url": f"sqlite:///{tmp}/bench.db"},
            limits=unlimited_http(),
            voice={
                **load_settings().voice.model_dump(),
                "max_sessions": 8,
                "max_sessions_per_ip": 8,
                **voice,
            },
        )
        runtime = open_runtime(settings, build_if_missing=True)
        app = create_app(settings, runtime)
        try:
            with serve_app(app, name="bench-server") as base_url:
                yield Served(base_url, app, runtime, settings)
        finally:
            runtime.close()
