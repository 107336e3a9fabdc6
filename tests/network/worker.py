"""The teller worker of the relay test, run inside the worker's network namespace.

``python -m tests.network.worker --host H --port P`` serves the whole app (settings from the
environment, as ``teller serve``), loads the voice models as a first session would, then prints
``ready`` on stdout; SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import socket

import uvicorn

from server.app import create_app
from server.config import load_settings
from server.logs import configure_logging
from server.runtime import open_runtime


class _Server(uvicorn.Server):
    """uvicorn that sets an event once it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()


async def _serve(host: str, port: int) -> int:
    settings = load_settings()
    configure_logging(settings.log.level, settings.log.json_format)
    runtime = open_runtime(settings)
    app = create_app(settings, runtime)
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, lifespan="on", ws="websockets-sansio"
    )  # fmt: skip
    server = _Server(config)
    serving = asyncio.create_task(server.serve())
    listening = asyncio.create_task(server.listening.wait())
    try:
        await asyncio.wait([serving, listening], return_when=asyncio.FIRST_COMPLETED)
        if not server.listening.is_set():
            return 1  # it stopped before it listened (its log says why)
        await app.state.services.voice.manager.services()
        print("ready", flush=True)
        await serving
        return 0
    finally:
        listening.cancel()
        runtime.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    return asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    raise SystemExit(main())
