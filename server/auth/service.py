"""One app's staff authentication: users, sessions, cookie signer, throttle and the login itself
(built in the app's lifespan). Every login, failed login and logout is audited."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine
from starlette.requests import HTTPConnection

from server.auth.revocations import redis_publisher
from server.auth.sessions import StaffSession, StaffSessions
from server.auth.throttle import LoginThrottle
from server.auth.tokens import SessionSigner, resolve_secret
from server.auth.users import Role, StaffUser, UserDirectory
from server.config import Settings
from server.store.store import Store


def store_engine(store: Store) -> Engine:
    """The store's engine, so staff tables share its database and pool."""
    return store.engine


class LoginFailure(StrEnum):
    """Why a login was refused (audited; the page says less)."""

    CREDENTIALS = "bad_credentials"
    CODE = "bad_code"
    NOT_ENROLLED = "second_factor_not_enrolled"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class LoginResult:
    cookie: str | None = None
    session: StaffSession | None = None
    failure: LoginFailure | None = None
    retry_after_s: float = 0.0


@dataclass
class StaffAuth:
    users: UserDirectory
    sessions: StaffSessions
    signer: SessionSigner
    throttle: LoginThrottle
    store: Store
    cookie_secure: bool
    totp_required_roles: frozenset[Role] = frozenset()
    totp_issuer: str = "Digital Teller"
    recheck_s: float = 2.0
    publish: Callable[[str], None] | None = None  # tells other workers a user's sessions ended

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> StaffAuth:
        secret = settings.secret_key.get_secret_value() if settings.secret_key else None
        auth = settings.auth
        publish = redis_publisher(settings)
        sessions = StaffSessions(
            store_engine(store), idle_s=auth.session_idle_s, max_age_s=auth.session_max_age_s
        )

        def ended(name: str) -> None:
            sessions.notify_user(name)
            if publish is not None:
                publish(name)

        return cls(
            users=UserDirectory(store_engine(store), audit_key=store.audit_key, sessions_ended=ended),
            sessions=sessions,
            publish=publish,
            signer=SessionSigner(resolve_secret(secret), auth.session_max_age_s),
            throttle=LoginThrottle(auth.max_failures, auth.failure_window_s, auth.lockout_s),
            store=store,
            cookie_secure=auth.cookie_secure,
            totp_required_roles=frozenset(Role(r) for r in auth.totp_required_roles),
            totp_issuer=auth.totp_issuer,
            recheck_s=auth.session_recheck_s,
        )

    def session_of(self, cookie: str | None) -> StaffSession | None:
        """The live server-side session a cookie names; None for anything else."""
        token = self.signer.read(cookie)
        return self.sessions.check(token) if token is not None else None

    def login(self, username: str, password: str, code: str, client: str) -> LoginResult:
        """Check a login (password, then the one-time code when the user has or needs one); on
        success a new session and its cookie. Throttled per name and address; audited either way."""
        key = f"{username.lower()}|{client}"
        wait = self.throttle.retry_after(key)
        if wait > 0:
            self._audit_failure(username, LoginFailure.THROTTLED, client)
            return LoginResult(failure=LoginFailure.THROTTLED, retry_after_s=wait)
        user = self.users.authenticate(username, password)
        failure = None if user is not None else LoginFailure.CREDENTIALS
        if user is not None:
            failure = self._second_factor(user, code)
        if user is None or failure is not None:
            self.throttle.failed(key)
            self._audit_failure(username, failure or LoginFailure.CREDENTIALS, client)
            return LoginResult(failure=failure)
        self.throttle.succeeded(key)
        token, session = self.sessions.open(user, client)
        self.store.audit(
            user.name, "auth.login", target=f"user:{user.name}", role=user.role.value, client=client
        )
        return LoginResult(cookie=self.signer.issue(token), session=session)

    def _second_factor(self, user: StaffUser, code: str) -> LoginFailure | None:
        if not self.users.has_totp(user.name):
            return LoginFailure.NOT_ENROLLED if user.role in self.totp_required_roles else None
        return None if self.users.check_totp(user.name, code) else LoginFailure.CODE

    def _audit_failure(self, username: str, failure: LoginFailure, client: str) -> None:
        self.store.audit(username[:64], "auth.login", target=f"user:{username[:64]}", outcome="failed",
                         reason=failure.value, client=client)  # fmt: skip

    def logout(self, cookie: str | None) -> None:
        """End the cookie's session now (audited when there was one)."""
        session = self.session_of(cookie)
        token = self.signer.read(cookie)
        if token is not None:
            self.sessions.end(token)
        if session is not None:
            self.store.audit(session.user.name, "auth.logout", target=f"user:{session.user.name}")
            if self.publish is not None:  # this user's consoles on other workers re-check now
                self.publish(session.user.name)


def staff_auth(conn: HTTPConnection) -> StaffAuth:
    """The StaffAuth of the app serving ``conn``."""
    from server.app_state import app_services

    return app_services(conn).staff
