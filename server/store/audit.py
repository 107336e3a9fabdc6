"""The audit log: append-only and tamper-evident (an HMAC-SHA256 hash chain).

Every row carries ``seq`` (1, 2, 3, … with no gap), ``prev_hash`` (the hash of row ``seq - 1``)
and ``hash`` = HMAC-SHA256(key, prev_hash ‖ canonical JSON of the row). The head of the chain
(the last ``seq`` and hash) is one row of ``audit_chain``; an append updates it first, which
takes its row lock (PostgreSQL) or the database's write lock (SQLite) until commit, so appends
from any number of threads and workers form one chain. Nothing in the code updates or deletes
an audit row; the migration adds a trigger refusing it on both databases.

``verify_chain`` re-computes every hash: an edited, deleted or reordered row (or the last rows
cut off) is found and named. A database administrator can still rewrite the whole chain only
with the key, which the database never sees (``TELLER_AUDIT_KEY``). Rows written before the
chain existed carry no hash and are counted, not verified.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy import Connection, Engine, Integer, String, bindparam, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from server.brain.pii import mask_values
from server.store.tables import AuditRow, Base, utcnow

if TYPE_CHECKING:
    from server.config import Settings

log = logging.getLogger(__name__)

AUDIT_KEY_ENV = "TELLER_AUDIT_KEY"
DEV_KEY_FILE = Path("var/audit.key")
CHAIN_ID = 1
OK = "ok"


class AuditChainRow(Base):
    """The head of the audit chain: one row (``id`` 1), the last ``seq`` and its hash."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditKeyMissing(RuntimeError):
    """``audit.require_key`` is on and ``TELLER_AUDIT_KEY`` is not set."""


def resolve_audit_key(
    configured: str | None, *, required: bool = False, dev_file: Path = DEV_KEY_FILE
) -> bytes:
    """The configured key; without one (and not ``required``) a development key kept in ``dev_file``
    (made once, mode 0600), so the chain still verifies after a restart."""
    if configured:
        return configured.encode("utf-8")
    if required:
        raise AuditKeyMissing(f"{AUDIT_KEY_ENV} must be set (audit.require_key is true)")
    if not dev_file.exists():
        dev_file.parent.mkdir(parents=True, exist_ok=True)
        draft = dev_file.with_name(f".{dev_file.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, dev_file)  # atomic and never replaces: of processes racing here, one wins
            log.warning("%s is not set: a development audit key was written to %s", AUDIT_KEY_ENV, dev_file)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return dev_file.read_text(encoding="utf-8").strip().encode("utf-8")


def settings_audit_key(settings: Settings) -> bytes:
    """The key ``settings`` name: ``TELLER_AUDIT_KEY``, else (unless ``audit.require_key``) the
    development key file."""
    configured = settings.audit_key.get_secret_value() if settings.audit_key else None
    return resolve_audit_key(
        configured, required=settings.audit.require_key, dev_file=settings.audit.dev_key_file
    )


def default_audit_key() -> bytes:
    """``TELLER_AUDIT_KEY`` from the environment, else the development key file."""
    return resolve_audit_key(os.environ.get(AUDIT_KEY_ENV))


def audit_details(detail: Mapping[str, Any]) -> dict[str, Any]:
    """The one place audit details are prepared for writing: JSON values only (what is hashed is
    exactly what is stored and read back)."""
    normalised: dict[str, Any] = json.loads(json.dumps(dict(detail), default=str, ensure_ascii=False))
    return normalised


@dataclass(frozen=True)
class AuditEntry:
    """One audit record to append. ``outcome``: ok, failed, refused."""

    actor: str
    action: str
    session_id: str | None = None
    target: str | None = None
    outcome: str = OK
    detail: Mapping[str, Any] | None = None


def _canonical(seq: int, at: datetime, row: Mapping[str, Any]) -> bytes:
    fields = {
        "seq": seq,
        "at": at.isoformat(timespec="microseconds"),
        "actor": row["actor"],
        "action": row["action"],
        "session_id": row["session_id"],
        "target": row["target"],
        "outcome": row["outcome"],
        "detail": row["detail"],
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def chain_hash(key: bytes, prev_hash: str, seq: int, at: datetime, row: Mapping[str, Any]) -> str:
    """HMAC-SHA256 over the previous hash and the row's canonical JSON."""
    message = prev_hash.encode("ascii") + b"\n" + _canonical(seq, at, row)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


_ADVANCE = (
    update(AuditChainRow)
    .where(AuditChainRow.id == CHAIN_ID)
    .values(seq=AuditChainRow.seq + 1)
    .returning(AuditChainRow.seq, AuditChainRow.last_hash)
)
_SET_HEAD = update(AuditChainRow).where(AuditChainRow.id == CHAIN_ID).values(last_hash=bindparam("h"))
_NEW_ROW = insert(AuditRow)


def append_audit(db: Connection, key: bytes, entry: AuditEntry) -> int:
    """Append ``entry`` in ``db``'s transaction (it holds the chain's lock until it ends); its seq."""
    head = db.execute(_ADVANCE).first()  # first statement: takes the lock before reading the head
    if head is None:
        raise RuntimeError("the audit chain has no head row: run `teller db upgrade`")
    seq, prev_hash = int(head[0]), str(head[1])
    at = utcnow()
    row: dict[str, Any] = {
        "actor": entry.actor[:64],
        "action": entry.action[:64],
        "session_id": entry.session_id,
        "target": entry.target[:128] if entry.target else None,
        "outcome": entry.outcome,
        "detail": mask_values(audit_details(entry.detail or {})),  # no PII in the audit log
    }
    digest = chain_hash(key, prev_hash, seq, at, row)
    db.execute(_NEW_ROW, {**row, "at": at, "seq": seq, "prev_hash": prev_hash, "hash": digest})
    db.execute(_SET_HEAD, {"h": digest})
    return seq


@dataclass(frozen=True)
class ChainReport:
    """What ``verify_chain`` found: ``bad`` names the first bad row (None: the chain holds)."""

    rows: int
    legacy: int
    bad: str | None = None
    bad_seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.bad is None


def _rows(engine: Engine) -> Iterator[AuditRow]:
    with engine.connect() as conn:
        query = select(AuditRow.__table__).order_by(AuditRow.seq, AuditRow.id)
        yield from conn.execute(query.execution_options(yield_per=500))  # type: ignore[misc]


def verify_chain(engine: Engine, key: bytes) -> ChainReport:
    """Re-compute the chain from the first row to the head; stop at the first bad row."""
    expected, prev, legacy, chained = 1, "", 0, False
    for row in _rows(engine):
        where = f"row seq {row.seq} (id {row.id})"
        if row.seq != expected:
            why = "deleted" if row.seq > expected else "duplicated or reordered"
            return ChainReport(expected - 1, legacy, f"{where}: expected seq {expected}; rows {why}", row.seq)
        expected += 1
        if row.hash is None:
            if chained:
                return ChainReport(row.seq, legacy, f"{where}: no hash after the chain began", row.seq)
            legacy += 1
            continue
        chained = True
        if row.prev_hash != prev:
            return ChainReport(row.seq, legacy, f"{where}: prev_hash is not the previous row's hash", row.seq)
        fields = {"actor": row.actor, "action": row.action, "session_id": row.session_id,
                  "target": row.target, "outcome": row.outcome, "detail": row.detail}  # fmt: skip
        if not hmac.compare_digest(chain_hash(key, prev, row.seq, row.at, fields), row.hash):
            return ChainReport(row.seq, legacy, f"{where}: hash does not match (edited)", row.seq)
        prev = row.hash
    with engine.connect() as conn:
        head = conn.execute(select(AuditChainRow.seq, AuditChainRow.last_hash)).first()
    count = expected - 1
    if head is None or head[0] != count or (chained and head[1] != prev):
        last = None if head is None else head[0]
        return ChainReport(count, legacy, f"the chain head says {last} rows, the table ends at {count}: "
                           "the last rows were deleted or the head was altered", count + 1)  # fmt: skip
    return ChainReport(count, legacy)


def siem_record(row: Any) -> dict[str, Any]:
    """One audit row as a SIEM-friendly JSON object."""
    return {
        "ts": row.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "seq": row.seq,
        "actor": row.actor,
        "action": row.action,
        "target": row.target or (f"session:{row.session_id}" if row.session_id else None),
        "outcome": row.outcome,
        "session_id": row.session_id,
        "details": row.detail,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


def export_jsonl(engine: Engine, out: TextIO, *, since_seq: int = 0) -> int:
    """Write the rows after ``since_seq`` as JSON lines, in chain order; how many."""
    count = 0
    for row in _rows(engine):
        if row.seq <= since_seq:
            continue
        out.write(json.dumps(siem_record(row), ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    return count
