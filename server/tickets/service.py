"""Tickets written when a session is handed to a person or closes, off the customer's path.

The app's lifespan opens one ``TicketService`` and hands it to whoever records replies or
ends sessions: ``record_reply`` / ``take_text_turn`` (``server.turns``) report every reply
(``reply_recorded``: a HANDOFF reply queues the session's ticket) and the voice session
manager reports the end of a session (``session_closed``). Queuing is all that happens on the
customer's path: one worker thread owned by the service reads the committed transcript, lets
the LLM word the ticket when one is configured (``write_ticket``: validated and repaired; the
deterministic extractor's ticket when the LLM fails) and stores it. The lifespan closes it on
shutdown, after the queued tickets are written.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Literal, Protocol

from knowledge.schema import RefFinder
from server.brain.brain import BrainReply
from server.brain.llm.client import ChatClient
from server.brain.policy import Decision
from server.store.store import Store
from server.store.tickets import StoredTicket, TicketStore
from server.tickets.generate import write_ticket
from server.tickets.validate import repair

if TYPE_CHECKING:
    from server.runtime import Runtime

log = logging.getLogger(__name__)

Trigger = Literal["handoff", "close", "operator"]


class TicketSink(Protocol):
    """What records replies and ends sessions needs of the ticket service."""

    def reply_recorded(self, reply: BrainReply) -> None: ...

    def session_closed(self, session_id: str) -> None: ...


def _report_failure(future: Future[StoredTicket | None]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        log.error("writing a ticket failed", extra={"error": type(exc).__name__}, exc_info=exc)


class TicketService:
    """Writes and stores tickets in one owned worker thread; ``close`` waits for the queue."""

    def __init__(
        self, store: Store, knowledge: Callable[[], RefFinder], client: ChatClient | None = None
    ) -> None:
        self._store = store
        self._tickets = TicketStore(store.engine)
        self._knowledge = knowledge
        self._client = client
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tickets")
        self._lock = threading.Lock()
        self._closed = False

    def reply_recorded(self, reply: BrainReply) -> None:
        """A recorded reply: a HANDOFF queues the session's ticket (never blocks on it)."""
        if reply.decision is Decision.HANDOFF:
            self.submit(reply.session_id, "handoff")

    def session_closed(self, session_id: str) -> None:
        """A session that ended queues its closing ticket."""
        self.submit(session_id, "close")

    def submit(self, session_id: str, trigger: Trigger) -> Future[StoredTicket | None]:
        """Queue the session's ticket; once closed, the extractor's ticket is written at once."""
        with self._lock:
            if not self._closed:
                future = self._pool.submit(self.write, session_id, trigger)
                future.add_done_callback(_report_failure)
                return future
        log.warning("ticket service closed; writing the extractor's ticket now", extra={"trigger": trigger})
        done: Future[StoredTicket | None] = Future()
        done.set_result(self.write(session_id, trigger, use_llm=False))
        return done

    async def ticket_now(self, session_id: str) -> StoredTicket | None:
        """The session's ticket, written now (LLM-worded when configured) and stored.

        For the operator console: None when the session has no customer turn yet.
        """
        return await asyncio.wrap_future(self.submit(session_id, "operator"))

    def latest(self, session_id: str) -> StoredTicket | None:
        """The session's newest stored ticket (blocking: call it off the event loop)."""
        return self._tickets.latest(session_id)

    def write(self, session_id: str, trigger: Trigger, *, use_llm: bool = True) -> StoredTicket | None:
        """Write and store the ticket (blocking); None when there is nothing to write."""
        rows = self._store.transcript(session_id)
        if not any(r.speaker == "customer" for r in rows):
            return None
        if trigger == "close":
            latest = self._tickets.latest(session_id)
            if latest is not None and latest.created_at >= rows[-1].created_at:
                return latest  # nothing was said since the last ticket (e.g. the hand-off's)
        ticket = write_ticket(rows, self._knowledge(), session_id, self._client if use_llm else None)
        ticket, bad = repair(ticket, ticket, rows)
        if bad:
            log.error("ticket held a number the transcript lacks; dropped", extra={"fields": bad})
        self._tickets.save(ticket, trigger)
        log.info("ticket written", extra={"trigger": trigger, "source": ticket.source.value})
        return self._tickets.latest(session_id)

    def close(self) -> None:
        """Write every queued ticket (blocking); later submissions are written at once."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=True)


def open_ticket_service(runtime: Runtime) -> TicketService:
    """The service of one app: the live knowledge, the LLM when generative and ``llm.tickets``."""
    writer = runtime.writer
    client = writer.client if writer is not None and runtime.settings.llm.tickets else None
    return TicketService(runtime.store, lambda: runtime.brain.retriever, client)
