"""Server-side staff sessions: the store is the source of truth, checked on every request.

A login makes a row in ``staff_sessions`` and a random token for the (signed) cookie; the row
holds the SHA-256 of the token, never the token. Each check joins the user: a disabled user, an
idle session (``auth.session_idle_s``) or an old one (``auth.session_max_age_s``) is refused,
and the role is the user's role now. Logging out, disabling the user, resetting the password and
changing the role delete the rows at once (``UserDirectory``); long-lived websockets re-check
their session every ``auth.session_recheck_s`` and at once on a revocation made in this process
(``watch``). Sessions are not cached (in Redis or elsewhere): every check reads the store.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import sessionmaker

from server.auth.users import Role, StaffSessionRow, StaffUser, UserRow
from server.store.tables import utcnow


@dataclass(frozen=True)
class StaffSession:
    """A checked staff session: the user (with their role now), its CSRF token and its stored id."""

    user: StaffUser
    csrf: str
    id: str = ""


@dataclass(frozen=True)
class SessionInfo:
    id: str
    user: str
    created_at: datetime
    last_seen_at: datetime
    client: str | None


def session_id_of(token: str) -> str:
    """The stored id of a cookie token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class StaffSessions:
    """Opens, checks and ends staff sessions in the store."""

    def __init__(
        self,
        engine: Engine,
        *,
        idle_s: float,
        max_age_s: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = sessionmaker(engine, expire_on_commit=False)
        self._idle = timedelta(seconds=idle_s)
        self._max_age = timedelta(seconds=max_age_s)
        self._touch_after = timedelta(seconds=min(60.0, idle_s / 4))
        self._clock = clock
        self._watchers: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._users: dict[str, set[str]] = {}  # user name -> ids of their watched sessions

    def open(self, user: StaffUser, client: str | None = None) -> tuple[str, StaffSession]:
        """A new session for ``user``: the token for the cookie, and the session."""
        token = secrets.token_urlsafe(32)
        row = StaffSessionRow(id=session_id_of(token), user_name=user.name, csrf=secrets.token_urlsafe(24),
                              client=(client or "")[:64] or None, created_at=self._clock(),
                              last_seen_at=self._clock())  # fmt: skip
        with self._db.begin() as db:
            db.add(row)
        self.purge()
        return token, StaffSession(user, row.csrf, row.id)

    def purge(self) -> int:
        """Delete every expired session (each login does it); how many."""
        now = self._clock()
        expired = (StaffSessionRow.created_at < now - self._max_age) | (
            StaffSessionRow.last_seen_at < now - self._idle
        )
        with self._db.begin() as db:
            return int(getattr(db.execute(delete(StaffSessionRow).where(expired)), "rowcount", 0) or 0)

    def check(self, token: str | None) -> StaffSession | None:
        """The live session of a cookie token, or None (unknown, ended, expired, user disabled)."""
        return self.check_id(session_id_of(token)) if token else None

    def check_id(self, session_id: str, *, touch: bool = True) -> StaffSession | None:
        """The live session stored as ``session_id``; ``touch`` counts this as activity."""
        now = self._clock()
        with self._db() as db:
            found = db.execute(
                select(StaffSessionRow, UserRow.role, UserRow.active)
                .join(UserRow, UserRow.name == StaffSessionRow.user_name)
                .where(StaffSessionRow.id == session_id)
            ).first()
        if found is None:
            return None
        row, role, active = found
        if not active or now - row.created_at > self._max_age or now - row.last_seen_at > self._idle:
            self.end_id(session_id)
            return None
        try:
            user = StaffUser(row.user_name, Role(role))
        except ValueError:
            return None
        if touch and now - row.last_seen_at > self._touch_after:
            with self._db.begin() as db:
                db.execute(
                    update(StaffSessionRow).where(StaffSessionRow.id == session_id).values(last_seen_at=now)
                )
        return StaffSession(user, row.csrf, row.id)

    def end(self, token: str | None) -> None:
        """Log out: the session of this cookie token ends now."""
        if token:
            self.end_id(session_id_of(token))

    def end_id(self, session_id: str) -> None:
        with self._db.begin() as db:
            db.execute(delete(StaffSessionRow).where(StaffSessionRow.id == session_id))
        self.notify(session_id)

    def sessions(self, user: str | None = None) -> list[SessionInfo]:
        """The live sessions (of ``user``), oldest first."""
        self.purge()
        query = select(StaffSessionRow).order_by(StaffSessionRow.created_at)
        if user is not None:
            query = query.where(StaffSessionRow.user_name == user)
        with self._db() as db:
            rows = list(db.scalars(query))
        return [SessionInfo(r.id, r.user_name, r.created_at, r.last_seen_at, r.client) for r in rows]

    def ids_of(self, user: str) -> list[str]:
        return [info.id for info in self.sessions(user)]

    # ------------------------------------------------------------------ revocation notices
    def watch(self, session: StaffSession) -> asyncio.Event:
        """An event set when the session may have ended: this process ended it, or a notice
        (``server.auth.revocations``) says its user's sessions ended. Call ``unwatch`` after."""
        event = asyncio.Event()
        self._watchers.setdefault(session.id, set()).add((asyncio.get_running_loop(), event))
        self._users.setdefault(session.user.name, set()).add(session.id)
        return event

    def unwatch(self, session: StaffSession, event: asyncio.Event) -> None:
        watchers = self._watchers.get(session.id)
        if watchers is not None:
            watchers -= {w for w in watchers if w[1] is event}
            if not watchers:
                del self._watchers[session.id]
                self._users.get(session.user.name, set()).discard(session.id)

    def notify(self, *session_ids: str) -> None:
        """Wake the websockets of these sessions so they re-check now (from any thread)."""
        for session_id in session_ids:
            for loop, event in list(self._watchers.get(session_id, ())):
                if not loop.is_closed():
                    loop.call_soon_threadsafe(event.set)

    def notify_user(self, user: str) -> None:
        """Wake the websockets of every session of ``user`` (its sessions ended elsewhere)."""
        self.notify(*self._users.get(user, ()))
