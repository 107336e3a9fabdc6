"""One worker's membership of the cluster: its heartbeat, dispatch through the registry, its drain.

State: ``serving → draining → stopped`` (or ``serving → stopped``); any other move raises.
A draining worker refuses new sessions, says so in its heartbeat (dispatch skips it) and in
``/healthz`` (503: the edge and orchestrators stop sending), and stops once its last session
has ended or ``server.drain_timeout_s`` has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from enum import StrEnum

from redis.exceptions import RedisError

from server.cluster.identity import Placement, WorkerIdentity
from server.cluster.registry import SessionRegistry, WorkerRecord
from server.operator.bus_health import BusHealth
from server.tasks import cancel_and_wait
from server.voice.manager import BUSY, CapacityError, SessionManager

log = logging.getLogger(__name__)


class WorkerState(StrEnum):
    SERVING = "serving"
    DRAINING = "draining"
    STOPPED = "stopped"


LEGAL_MOVES: Mapping[WorkerState, frozenset[WorkerState]] = {
    WorkerState.SERVING: frozenset({WorkerState.DRAINING, WorkerState.STOPPED}),
    WorkerState.DRAINING: frozenset({WorkerState.STOPPED}),
    WorkerState.STOPPED: frozenset(),
}


class IllegalWorkerMove(RuntimeError):
    retryable = False

    def __init__(self, current: WorkerState, wanted: WorkerState) -> None:
        super().__init__(f"a worker cannot move from {current.value} to {wanted.value}")


class ClusterMember:
    """This worker in the registry; ``start`` begins its heartbeat, ``aclose`` leaves."""

    def __init__(
        self,
        identity: WorkerIdentity,
        registry: SessionRegistry,
        manager: SessionManager,
        *,
        capacity: int,
        heartbeat_s: float,
        drain_timeout_s: float,
    ) -> None:
        self.identity = identity
        self.registry = registry
        self._manager = manager
        self._capacity = capacity
        self._heartbeat_s = heartbeat_s
        self._drain_timeout_s = drain_timeout_s
        self._state = WorkerState.SERVING
        self._health = BusHealth("session registry (Redis)")
        self._wake = asyncio.Event()
        self._heartbeat: asyncio.Task[None] | None = None
        self._drain: asyncio.Task[None] | None = None
        self._owned: set[str] = set()  # sessions this worker last wrote as its own

    @property
    def worker_id(self) -> str:
        return self.identity.worker_id

    @property
    def state(self) -> WorkerState:
        return self._state

    @property
    def draining(self) -> bool:
        return self._state is not WorkerState.SERVING

    def _move(self, wanted: WorkerState) -> None:
        if wanted not in LEGAL_MOVES[self._state]:
            raise IllegalWorkerMove(self._state, wanted)
        log.info("worker state: %s", wanted.value, extra={"worker": self.worker_id})
        self._state = wanted

    def start(self) -> None:
        """Begin heartbeating; call on the running loop."""
        if self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._beat_forever(), name="cluster-heartbeat")

    def record(self) -> WorkerRecord:
        return WorkerRecord(
            worker=self.worker_id,
            prefix=self.identity.prefix,
            pid=os.getpid(),
            active=len(self._manager.sessions()),
            capacity=self._capacity,
            draining=self.draining,
        )

    async def place(self, session_id: str, previous: str | None = None) -> Placement:
        """The least loaded worker with room (``CapacityError`` when every one is full or draining).

        ``previous`` (a resumed session's worker before) keeps the session while that worker is
        serving, so a session whose old connection it has not yet seen drop is not opened twice.
        While Redis cannot be reached, this worker takes the session itself if it is serving:
        customers keep being answered, and its own capacity check still applies.
        """
        try:
            if previous is not None:
                records = await self.registry.workers()
                same = next((r for r in records if r.worker == previous and not r.draining), None)
                if same is not None:
                    return Placement(same.worker, same.prefix)
            chosen = await self.registry.place(session_id)
        except RedisError as exc:
            self._health.failed("dispatch", exc)
            if self.draining:
                raise CapacityError(BUSY) from exc
            return Placement(self.worker_id, self.identity.prefix)
        self._health.recovered("dispatch")
        if chosen is None:
            raise CapacityError(BUSY)
        return Placement(chosen.worker, chosen.prefix)

    def begin_drain(self, on_drained: Callable[[], None]) -> None:
        """Take no new session; call ``on_drained`` once the live ones end (or time runs out)."""
        self._move(WorkerState.DRAINING)
        self._manager.stop_accepting()
        self._wake.set()  # the registry hears it now, not at the next beat
        self._drain = asyncio.create_task(self._drain_then(on_drained), name="cluster-drain")

    async def _drain_then(self, on_drained: Callable[[], None]) -> None:
        live = len(self._manager.sessions())
        log.info("draining", extra={"worker": self.worker_id, "sessions": live})
        try:
            await asyncio.wait_for(self._manager.wait_idle(), self._drain_timeout_s)
        except TimeoutError:
            left = len(self._manager.sessions())
            log.warning("drain timed out; ending the sessions left", extra={"sessions": left})
        on_drained()

    async def _beat_forever(self) -> None:
        while True:
            self._wake.clear()
            await self._beat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._heartbeat_s)

    async def _beat(self) -> None:
        record = self.record()
        live = {s.session_id for s in self._manager.sessions()}
        try:
            await self.registry.beat(record, live, self._owned - live)
        except Exception as exc:  # Redis away (or a bug): the next beat retries
            self._health.failed("heartbeat", exc, unexpected=not isinstance(exc, RedisError))
            return
        self._owned = live
        self._health.recovered("heartbeat")

    async def aclose(self) -> None:
        """Stop heartbeating and leave the registry (dispatch stops at once, not after the TTL)."""
        if self._state is WorkerState.STOPPED:
            return
        self._move(WorkerState.STOPPED)
        await cancel_and_wait(self._heartbeat, self._drain)
        try:
            await self.registry.leave(self.worker_id, self._owned)
        except RedisError as exc:  # the heartbeat expires on its own
            log.warning("could not leave the session registry: %s", exc, extra={"worker": self.worker_id})
        finally:
            await self.registry.aclose()
