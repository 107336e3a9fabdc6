"""Staff users and their roles, with argon2-hashed passwords, in the store."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, DateTime, Engine, String, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from server.store.tables import Base, utcnow

_NAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
MIN_PASSWORD = 10


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    EDITOR = "editor"
    ADMIN = "admin"


class UserError(ValueError):
    """A user cannot be created as asked (bad name, weak password, already exists)."""


class UserRow(Base):
    __tablename__ = "staff_users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class StaffUser:
    name: str
    role: Role


class UserDirectory:
    """Creates staff users and checks their passwords."""

    def __init__(self, engine: Engine, hasher: PasswordHasher | None = None) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = self._hasher.hash("not-a-real-password")

    def add(self, name: str, role: Role, password: str) -> StaffUser:
        if not _NAME.match(name):
            raise UserError("a user name is 2-64 letters, digits or . _ @ -")
        if len(password) < MIN_PASSWORD:
            raise UserError(f"a password has at least {MIN_PASSWORD} characters")
        with self._sessions.begin() as db:
            if db.get(UserRow, name) is not None:
                raise UserError(f"user {name!r} already exists")
            db.add(UserRow(name=name, role=role.value, password_hash=self._hasher.hash(password)))
        return StaffUser(name, role)

    def get(self, name: str) -> StaffUser | None:
        with self._sessions() as db:
            row = db.get(UserRow, name)
            return StaffUser(row.name, Role(row.role)) if row is not None and row.active else None

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
