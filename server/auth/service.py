"""One app's staff authentication: users, cookie signer and throttle (built in the app's lifespan)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from starlette.requests import HTTPConnection

from server.auth.throttle import LoginThrottle
from server.auth.tokens import SessionSigner, resolve_secret
from server.auth.users import UserDirectory
from server.config import Settings
from server.store.store import Store


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
    """The StaffAuth of the app serving ``conn``."""
    from server.app_state import app_services

    return app_services(conn).staff
