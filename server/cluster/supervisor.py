"""``teller serve --workers N``: start N worker processes, restart those that die, stop them on SIGTERM.

The supervisor holds no model and no socket: each worker is its own process (``python -m
server.cli serve --worker-index <ii>``), with its own event loop and models, in its own session
so a terminal's Ctrl-C reaches only the supervisor. On SIGTERM or SIGINT it sends every worker
SIGTERM (each drains its sessions, ``server.cluster.worker``) and waits for all of them; a
second signal is forwarded again (the workers then stop at once). A worker that exits while
the supervisor is not stopping is restarted after a backoff that doubles up to
``RESTART_BACKOFF_MAX_S`` and starts over once a worker has run ``STABLE_AFTER_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from server.tasks import cancel_and_wait

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = 1.0
RESTART_BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0


def worker_command(index: int, host: str | None, port: int | None) -> list[str]:
    """The command line of worker ``index``, with the supervisor's own ``--host``/``--port``."""
    argv = [sys.executable, "-m", "server.cli", "serve", "--worker-index", str(index)]
    if host:
        argv += ["--host", host]
    if port:
        argv += ["--port", str(port)]
    return argv


@dataclass
class _Slot:
    index: int
    process: asyncio.subprocess.Process | None = None
    starts: int = 0


class Supervisor:
    """Keeps ``count`` workers running until ``stop``; ``run`` returns when all have exited."""

    def __init__(
        self,
        count: int,
        command: Callable[[int], Sequence[str]],
        *,
        backoff_s: float = RESTART_BACKOFF_S,
        backoff_max_s: float = RESTART_BACKOFF_MAX_S,
        stable_after_s: float = STABLE_AFTER_S,
    ) -> None:
        self._slots = [_Slot(index) for index in range(count)]
        self._command = command
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._stable_after_s = stable_after_s
        self._stopping = asyncio.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Send every worker SIGTERM (again, if already stopping) and start no more."""
        if not self.stopping:
            log.info("stopping the workers")
        self._stopping.set()
        for slot in self._slots:
            self._signal(slot, signal.SIGTERM)

    def _signal(self, slot: _Slot, sig: signal.Signals) -> None:
        if slot.process is not None and slot.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # it has just exited
                slot.process.send_signal(sig)

    async def run(self) -> int:
        """Run until every worker has exited after ``stop``; SIGTERM/SIGINT call ``stop``."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        tasks = [asyncio.create_task(self._keep(s), name=f"worker-{s.index:02d}") for s in self._slots]
        try:
            await asyncio.gather(*tasks)
        finally:
            await cancel_and_wait(*tasks)  # only left running if gather itself failed
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log.info("every worker has stopped")
        return 0

    async def _keep(self, slot: _Slot) -> None:
        """Start worker ``slot`` and start it again after each exit, until stopping."""
        backoff = self._backoff_s
        while not self.stopping:
            started = time.monotonic()
            slot.process = await asyncio.create_subprocess_exec(
                *self._command(slot.index), start_new_session=True
            )
            slot.starts += 1
            pid = slot.process.pid
            log.info("worker started", extra={"worker_index": slot.index, "pid": pid, "starts": slot.starts})
            if self.stopping:  # stop() ran while it was being started
                self._signal(slot, signal.SIGTERM)
            code = await slot.process.wait()
            if self.stopping:
                log.info("worker stopped", extra={"worker_index": slot.index, "pid": pid, "code": code})
                return
            if time.monotonic() - started >= self._stable_after_s:
                backoff = self._backoff_s
            log.warning(
                "worker exited; restarting it",
                extra={"worker_index": slot.index, "pid": pid, "code": code, "restart_in_s": backoff},
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)
            backoff = min(self._backoff_max_s, backoff * 2)


def run_supervisor(count: int, command: Callable[[int], Sequence[str]]) -> int:
    """Block until the workers have stopped (``teller serve`` in cluster mode)."""

    async def main() -> int:
        return await Supervisor(count, command).run()

    return asyncio.run(main())
