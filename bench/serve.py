"""Serve the app in-process for a benchmark: uvicorn in a thread, the live knowledge index
in var/index, a throw-away store. ``with serve(**voice_overrides) as live: ...``."""

from __future__ import annotations

import socket
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
from server.runtime import Runtime, open_runtime


@dataclass
class Served:
    base_url: str
    app: FastAPI
    runtime: Runtime
    settings: Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(**voice: Any) -> Iterator[Served]:
    with tempfile.TemporaryDirectory(prefix="teller-bench-") as tmp:
        settings = load_settings(
            store={"url": f"sqlite:///{tmp}/bench.db"},
            voice={
                **load_settings().voice.model_dump(),
                "max_sessions": 8,
                "max_sessions_per_ip": 8,
                **voice,
            },
        )
        runtime = open_runtime(settings, build_if_missing=True)
        app = create_app(settings, runtime)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, name="bench-server", daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            yield Served(f"http://127.0.0.1:{port}", app, runtime, settings)
        finally:
            server.should_exit = True
            thread.join(timeout=30)
            runtime.close()
