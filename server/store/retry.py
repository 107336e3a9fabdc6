"""Writes that survive a brief database outage: bounded retries with backoff, then a typed error.

A write that fails because the connection is gone (PostgreSQL restarted, a backend
terminated, the network dropped) or the database is briefly busy is run again, in a
new transaction on a fresh connection, a bounded number of times. When the outage
lasts longer, :class:`StoreUnavailable` (``retryable=True``) says the write was *not*
saved, so a caller can tell the customer so instead of acknowledging a lost line.

A connection lost while its COMMIT is in flight leaves the outcome unknown; that write
is retried too (at least once: never lost, in that rare case stored twice).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = logging.getLogger(__name__)

T = TypeVar("T")


class StoreUnavailable(RuntimeError):
    """A write could not be committed: the database stayed unreachable through every retry.

    ``retryable`` is always True: nothing is wrong with the write itself; the caller may
    try again later, and must not acknowledge it as saved.
    """

    retryable = True

    def __init__(self, operation: str, attempts: int, cause: BaseException) -> None:
        super().__init__(f"the store could not save {operation} after {attempts} attempts: {cause}")
        self.operation = operation
        self.attempts = attempts


def is_transient(exc: BaseException) -> bool:
    """True for a lost or refused connection, a server shutting down, or a busy/locked database."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    if type(exc.orig).__module__.startswith("sqlite3"):  # "no such table" is an OperationalError too
        return any(word in str(exc.orig) for word in ("locked", "busy"))
    return True


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all, sleeping ``first_delay_s`` doubled each time, at most ``max_delay_s``."""

    attempts: int = 6
    first_delay_s: float = 0.05
    max_delay_s: float = 1.0

    def run(self, operation: str, work: Callable[[], T]) -> T:
        """``work()``, again after a transient failure; :class:`StoreUnavailable` when none succeeds."""
        delay = self.first_delay_s
        for attempt in range(1, self.attempts + 1):
            try:
                return work()
            except DBAPIError as exc:
                if not is_transient(exc):
                    raise
                if attempt == self.attempts:
                    log.error("store write %s failed %d times; giving up: %s", operation, attempt, exc)
                    raise StoreUnavailable(operation, attempt, exc) from exc
                log.warning("store write %s failed (attempt %d), retrying: %s", operation, attempt, exc)
                time.sleep(delay)  # backoff while the database comes back
                delay = min(delay * 2, self.max_delay_s)
        raise AssertionError("unreachable")  # pragma: no cover
