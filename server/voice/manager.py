"""Live voice sessions of this process: capacity, ownership of their tasks, lookup."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pipecat.transports.base_transport import BaseTransport

from server.operator.bus import OperatorBus
from server.tasks import cancel_and_wait
from server.voice.resume import NEW_SESSION, SessionHistory, load_history, pick_up
from server.voice.services import VoiceServices
from server.voice.session import VoiceSession, build_session, run_session

log = logging.getLogger(__name__)

BUSY = "all tellers are busy right now; please try again in a minute or type below"


class CapacityError(RuntimeError):
    """No room for another session now: the customer should retry shortly or type instead."""

    retryable = True


@dataclass
class _Live:
    session: VoiceSession
    task: asyncio.Task[None]
    client_ip: str


class SessionManager:
    """Owns every session task: started here, cancelled and awaited in ``close``."""

    def __init__(
        self,
        load_services: Callable[[], Awaitable[VoiceServices]],
        *,
        max_sessions: int,
        max_per_ip: int,
        bus: OperatorBus | None = None,
    ) -> None:
        self._load_services = load_services
        self._bus = bus
        self._services: VoiceServices | None = None
        self._services_lock = asyncio.Lock()
        self._max_sessions = max_sessions
        self._max_per_ip = max_per_ip
        self._live: dict[str, _Live] = {}
        self._reserved: Counter[str] = Counter()
        self._accepting = True
        self._idle = asyncio.Event()  # no session live or being started
        self._idle.set()

    async def services(self) -> VoiceServices:
        async with self._services_lock:
            if self._services is None:
                self._services = await self._load_services()
            return self._services

    @property
    def loaded_services(self) -> VoiceServices | None:
        """The shared services once a session has loaded them (this never loads them)."""
        return self._services

    def get(self, session_id: str) -> VoiceSession | None:
        live = self._live.get(session_id)
        return live.session if live else None

    def sessions(self) -> list[VoiceSession]:
        return [live.session for live in self._live.values()]

    def check_capacity(self, session_id: str, client_ip: str) -> None:
        """Raise ``CapacityError`` when a new session for ``client_ip`` would not fit."""
        if session_id in self._live:
            raise CapacityError("this session is already connected")
        if not self._accepting or len(self._live) + sum(self._reserved.values()) >= self._max_sessions:
            raise CapacityError(BUSY)
        per_ip = (
            sum(1 for live in self._live.values() if live.client_ip == client_ip) + self._reserved[client_ip]
        )
        if per_ip >= self._max_per_ip:
            raise CapacityError("too many sessions from this address")

    async def history(self, session_id: str) -> SessionHistory:
        """What the store holds of ``session_id`` (``server.voice.resume.load_history``): nothing for
        a new session. Raises ``SessionEnded`` or ``StoreUnavailable`` (retryable)."""
        services = await self.services()
        return await asyncio.to_thread(load_history, services.store, session_id)

    async def start(
        self,
        transport: BaseTransport,
        session_id: str,
        channel: str,
        client_ip: str,
        *,
        history: SessionHistory = NEW_SESSION,
    ) -> VoiceSession:
        """Start the session; one with a ``history`` is picked up where it was (``pick_up``)."""
        self.check_capacity(session_id, client_ip)
        self._reserved[client_ip] += 1
        self._idle.clear()
        try:
            services = await self.services()
            if history.resumed:
                await asyncio.to_thread(pick_up, services.store, services.brain, session_id, history)
            session = build_session(services, transport, session_id, channel, self._bus, history=history)
        except BaseException:
            self._reserved[client_ip] -= 1
            self._note_idle()
            raise
        self._reserved[client_ip] -= 1  # and live at once, with no await between: never idle here
        task = asyncio.create_task(self._run(session), name=f"voice-session-{session_id[:8]}")
        self._live[session_id] = _Live(session, task, client_ip)
        return session

    def stop_accepting(self) -> None:
        """Refuse every new session from now on (a draining worker); live ones go on."""
        self._accepting = False

    async def wait_idle(self) -> None:
        """Return once no session is live or being started."""
        await self._idle.wait()

    def _note_idle(self) -> None:
        if not self._live and not any(self._reserved.values()):
            self._idle.set()

    async def _run(self, session: VoiceSession) -> None:
        try:
            await run_session(session)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("voice session failed", extra={"session_id": session.session_id})
        finally:
            self._live.pop(session.session_id, None)
            self._note_idle()
            if self._services is not None and self._services.tickets is not None:
                self._services.tickets.session_closed(session.session_id)  # queues its ticket

    async def wait_closed(self, session_id: str) -> None:
        live = self._live.get(session_id)
        if live is not None:
            await asyncio.wait({live.task})

    async def close(self) -> None:
        await cancel_and_wait(*(live.task for live in self._live.values()))
        self._live.clear()
        self._note_idle()
