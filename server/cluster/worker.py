"""One worker process of a cluster: uvicorn on its port (worker 00: the pages port too), drained on SIGTERM.

The supervisor starts it as ``teller serve --worker-index <ii>``. The first SIGTERM (or SIGINT)
drains it (``ClusterMember.begin_drain``): no new session, ``/healthz`` 503, the registry
says ``draining``; uvicorn stops once the last session has ended or ``server.drain_timeout_s``
has passed. A second signal stops it at once (sessions are cancelled, the app shuts down
cleanly); a third skips the app's shutdown.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import signal
import socket
import sys
from types import FrameType

import uvicorn
from fastapi import FastAPI

from server.app import create_app
from server.cluster.identity import WorkerIdentity, worker_identity
from server.cluster.member import WorkerState
from server.config import Settings
from server.limits.ws_size import WS_MAX_SIZE
from server.runtime import open_runtime
from server.wiring import AppServices

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


class DrainingServer(uvicorn.Server):
    """uvicorn whose first exit signal drains the worker's sessions before it stops."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_requested = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets=sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not uvicorn's handler: it would re-raise the signal after shutdown (exit code -15).
        services: AppServices | None = getattr(self._app.state, "services", None)
        if self._drain_requested or self._loop is None or services is None or services.cluster is None:
            self.force_exit = self.should_exit  # the third signal skips the app's shutdown
            self.should_exit = True
            return
        self._drain_requested = True
        log.info("signal %s: draining", signal.Signals(sig).name)
        self._loop.call_soon_threadsafe(self._begin_drain, services)

    def _begin_drain(self, services: AppServices) -> None:
        cluster = services.cluster
        if cluster is None or cluster.state is not WorkerState.SERVING:
            self.should_exit = True  # already shutting down
            return
        cluster.begin_drain(self._drained)

    def _drained(self) -> None:
        self.should_exit = True


def _stop_with_supervisor() -> None:
    """Linux: the kernel sends this worker SIGTERM (a drain) if its supervisor dies first."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _tag_logs(worker_id: str) -> None:
    """Every log line of this process names its worker."""

    def tag(record: logging.LogRecord) -> bool:
        if not hasattr(record, "worker"):
            record.worker = worker_id
        return True

    for handler in logging.getLogger().handlers:
        handler.addFilter(tag)


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.create_server((host, port), backlog=2048)
    sock.set_inheritable(False)
    return sock


def listen_ports(settings: Settings, identity: WorkerIdentity) -> list[int]:
    """Worker ii's own port; worker 00 also serves pages and dispatch on ``server.port``."""
    ports = [identity.port]
    if identity.index == 0 and settings.server.port not in ports:
        ports.append(settings.server.port)
    return ports


def serve_worker(settings: Settings, index: int, host: str) -> int:
    """Run worker ``index`` until it is stopped; the exit code for the supervisor."""
    _stop_with_supervisor()
    identity = worker_identity(settings, index)
    _tag_logs(identity.worker_id)
    runtime = open_runtime(settings)  # the supervisor built the knowledge if none was live
    try:
        app = create_app(settings, runtime, worker=identity)
        ports = listen_ports(settings, identity)
        sockets = [_listen(host, port) for port in ports]
        server = DrainingServer(
            uvicorn.Config(
                app,
                log_config=None,
                ws="websockets-sansio",
                ws_max_size=WS_MAX_SIZE,  # the largest legal message (server.limits.ws_size)
                lifespan="on",
                forwarded_allow_ips=settings.server.forwarded_allow_ips,
            ),
            app,
        )
        log.info("worker listening", extra={"host": host, "ports": ports, "prefix": identity.prefix})
        server.run(sockets=sockets)
    finally:
        runtime.close()
    return 0 if server.started else 1
