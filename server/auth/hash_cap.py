"""A cap on staff logins hashing a password at once: each argon2 verify costs tens of MiB and a
core for a while, so a burst of logins beyond ``limits.max_concurrent_logins`` is answered 503 at
once (with Retry-After) instead of queueing on the thread pool."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.requests import HTTPConnection

BUSY_RETRY_AFTER_S = 1
_create_lock = threading.Lock()


class HashingCap:
    """At most ``limit`` holders of a slot at a time; ``slot`` never waits."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Yields True with a slot held for the block, False when every slot is taken."""
        acquired = self._slots.acquire(blocking=False)
        try:
            yield acquired
        finally:
            if acquired:
                self._slots.release()


def login_cap(conn: HTTPConnection) -> HashingCap:
    """The app's cap (made on first use from ``limits.max_concurrent_logins``)."""
    state = conn.app.state
    cap: HashingCap | None = getattr(state, "login_hash_cap", None)
    if cap is None:
        from server.app_state import app_services

        with _create_lock:
            cap = getattr(state, "login_hash_cap", None)
            if cap is None:
                cap = HashingCap(app_services(conn).runtime.settings.limits.max_concurrent_logins)
                state.login_hash_cap = cap
    return cap
