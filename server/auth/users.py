"""Staff users and their roles, with argon2-hashed passwords, in the store.

Every change to a user is audited in the same transaction; disabling a user, resetting the
password and changing the role also delete the user's sessions (``staff_sessions``) there, so
the next request of any of them is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, DateTime, Engine, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from server.auth import totp
from server.store.audit import AuditEntry, append_audit, default_audit_key
from server.store.tables import Base, UtcDateTime, utcnow

_NAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
MIN_PASSWORD = 10


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    EDITOR = "editor"
    ADMIN = "admin"


class UserError(ValueError):
    """A user cannot be created or changed as asked (bad name, weak password, exists, unknown)."""


class UserRow(Base):
    __tablename__ = "staff_users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)  # a code is good once


class StaffSessionRow(Base):
    """A staff login. The cookie carries a random token (signed); ``id`` is its SHA-256."""

    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(64), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)  # address at login


@dataclass(frozen=True)
class StaffUser:
    name: str
    role: Role


@dataclass(frozen=True)
class UserInfo:
    name: str
    role: Role
    active: bool
    totp: bool


class UserDirectory:
    """Creates and changes staff users and checks their passwords and one-time codes."""

    def __init__(
        self,
        engine: Engine,
        hasher: PasswordHasher | None = None,
        audit_key: bytes | None = None,
        sessions_ended: Callable[[str], None] | None = None,
    ) -> None:
        """``sessions_ended(name)`` is told after a change ended a user's sessions (a notice to
        other processes: ``server.auth.revocations``)."""
        self._sessions_ended = sessions_ended
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = self._hasher.hash("not-a-real-password")
        self._audit_key = audit_key if audit_key is not None else default_audit_key()

    def _audit(self, db: Session, actor: str, action: str, target: str, **detail: Any) -> None:
        append_audit(db.connection(), self._audit_key, AuditEntry(actor, action, target=f"user:{target}",
                                                                   detail=detail))  # fmt: skip

    def add(self, name: str, role: Role, password: str, *, actor: str = "system") -> StaffUser:
        if not _NAME.match(name):
            raise UserError("a user name is 2-64 letters, digits or . _ @ -")
        _check_password(password)
        with self._sessions.begin() as db:
            if db.get(UserRow, name) is not None:
                raise UserError(f"user {name!r} already exists")
            db.add(UserRow(name=name, role=role.value, password_hash=self._hasher.hash(password)))
            db.flush()
            self._audit(db, actor, "user.add", name, role=role.value)
        return StaffUser(name, role)

    def get(self, name: str) -> StaffUser | None:
        with self._sessions() as db:
            row = db.get(UserRow, name)
            return StaffUser(row.name, Role(row.role)) if row is not None and row.active else None

    def info(self, name: str) -> UserInfo | None:
        with self._sessions() as db:
            row = db.get(UserRow, name)
            if row is None:
                return None
            return UserInfo(row.name, Role(row.role), row.active, row.totp_secret is not None)

    def names(self) -> list[str]:
        with self._sessions() as db:
            return list(db.scalars(select(UserRow.name).order_by(UserRow.name)))

    def authenticate(self, name: str, password: str) -> StaffUser | None:
        """The user when ``password`` is right; None otherwise (same work either way)."""
        with self._sessions() as db:
            row = db.get(UserRow, name)
            stored = row.password_hash if row is not None and row.active else self._dummy_hash
            try:
                self._hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return None
            if row is None or not row.active:
                return None
            if self._hasher.check_needs_rehash(stored):
                with self._sessions.begin() as rehash:
                    target = rehash.get(UserRow, name)
                    if target is not None:
                        target.password_hash = self._hasher.hash(password)
            return StaffUser(row.name, Role(row.role))

    def has_totp(self, name: str) -> bool:
        info = self.info(name)
        return info is not None and info.totp

    def check_totp(self, name: str, code: str, at: datetime | None = None) -> bool:
        """True when ``code`` is the user's current one-time code and was not used before."""
        with self._sessions.begin() as db:
            row = db.get(UserRow, name, with_for_update=True)
            if row is None or row.totp_secret is None:
                return False
            step = totp.matching_step(row.totp_secret, code, at or utcnow(), row.totp_last_step)
            if step is None:
                return False
            row.totp_last_step = step
            return True

    # ------------------------------------------------------------------ administration
    def disable(self, name: str, *, actor: str) -> int:
        """Disable the user and end their sessions now; how many ended."""
        return self._change(name, actor, "user.disable", lambda row: _set(row, active=False), end=True)

    def enable(self, name: str, *, actor: str) -> None:
        self._change(name, actor, "user.enable", lambda row: _set(row, active=True), end=False)

    def set_password(self, name: str, password: str, *, actor: str) -> int:
        """A new password; every session of the user ends. How many ended."""
        _check_password(password)
        hashed = self._hasher.hash(password)
        return self._change(
            name, actor, "user.reset_password", lambda row: _set(row, password_hash=hashed), end=True
        )

    def set_role(self, name: str, role: Role, *, actor: str) -> int:
        """A new role, in force at once: the user's sessions end. How many ended."""

        def apply(row: UserRow) -> dict[str, Any]:
            before = row.role
            row.role = role.value
            return {"from": before, "to": role.value}

        return self._change(name, actor, "user.role_change", apply, end=True)

    def enrol_totp(self, name: str, *, actor: str, issuer: str) -> str:
        """A new TOTP secret for the user (replacing any); the ``otpauth://`` URI to scan."""
        secret = totp.new_secret()
        enrol = lambda row: _set(row, totp_secret=secret, totp_last_step=None)  # noqa: E731
        self._change(name, actor, "user.totp_enroll", enrol, end=False)
        return totp.provisioning_uri(secret, name, issuer)

    def end_sessions(self, name: str, *, actor: str) -> int:
        """End every session of the user now; how many."""
        return self._change(name, actor, "user.sessions_end", lambda _row: {}, end=True)

    def _change(
        self, name: str, actor: str, action: str, apply: Callable[[UserRow], dict[str, Any]], *, end: bool
    ) -> int:
        with self._sessions.begin() as db:
            row = db.get(UserRow, name, with_for_update=True)
            if row is None:
                raise UserError(f"no user {name!r}")
            detail = apply(row)
            db.flush()
            ended = 0
            if end:
                result = db.execute(delete(StaffSessionRow).where(StaffSessionRow.user_name == name))
                ended = int(getattr(result, "rowcount", 0) or 0)
                detail["sessions_ended"] = ended
            self._audit(db, actor, action, name, **detail)
        if end and self._sessions_ended is not None:
            self._sessions_ended(name)
        return ended


def _set(row: UserRow, **values: Any) -> dict[str, Any]:
    for field, value in values.items():
        setattr(row, field, value)
    return {}


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password has at least {MIN_PASSWORD} characters")
