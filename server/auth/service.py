"""One process's staff authentication: users, cookie signer and throttle, kept on ``app.state``."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import Engine
from starlette.requests import HTTPConnection

from server.auth.throttle import LoginThrottle
from server.auth.tokens import SessionSigner, resolve_secret
from server.auth.users import UserDirectory
from server.config import Settings
from server.store.store import Store

_build_lock = threading.Lock()


def store_engine(store: Store) -> Engine:
    """The store's engine, so staff tables share its database and pool."""
    return store.engine


@dataclass
class StaffAuth:
    users: UserDirectory
    signer: SessionSigner
    throttle: LoginThrottle
    cookie_secure: bool

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> StaffAuth:
        secret = settings.secret_key.get_secret_value() if settings.secret_key else None
        auth = settings.auth
        return cls(
            users=UserDirectory(store_engine(store)),
            signer=SessionSigner(resolve_secret(secret), auth.session_max_age_s),
            throttle=LoginThrottle(auth.max_failures, auth.failure_window_s, auth.lockout_s),
            cookie_secure=auth.cookie_secure,
        )


def staff_auth(conn: HTTPConnection) -> StaffAuth:
    """The app's StaffAuth, built on first use from the app's runtime."""
    state = conn.app.state
    existing: StaffAuth | None = getattr(state, "staff_auth", None)
    if existing is not None:
        return existing
    with _build_lock:
        existing = getattr(state, "staff_auth", None)
        if existing is None:
            runtime = state.runtime
            existing = StaffAuth.from_settings(runtime.settings, runtime.store)
            state.staff_auth = existing
        return existing
