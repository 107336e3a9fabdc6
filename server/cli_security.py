"""``teller user disable|enable|reset-password|set-role|sessions|totp-enroll`` and
``teller audit verify|export``: staff administration and the audit chain, from the command line.

Every change is audited with the actor ``cli:<login name>``. A change that ends sessions deletes
them in the store at once: the next request of any of them is refused, and an open operator
console closes within ``auth.session_recheck_s``.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from server.config import Settings

if TYPE_CHECKING:
    from server.store.store import Store

ROLES = ["operator", "supervisor", "editor", "admin"]


def cli_actor() -> str:
    """Who ran the command, as the audit names them."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (KeyError, OSError):
        return "cli:unknown"


@contextmanager
def open_store(settings: Settings) -> Iterator[Store]:
    from server.store.audit import settings_audit_key
    from server.store.store import Store

    store = Store.from_url(settings.store.url, audit_key=settings_audit_key(settings))
    try:
        yield store
    finally:
        store.close()


def _user_change(args: argparse.Namespace, settings: Settings) -> int:
    from server.auth.revocations import redis_publisher
    from server.auth.users import Role, UserDirectory, UserError

    actor = cli_actor()
    with open_store(settings) as store:
        users = UserDirectory(
            store.engine, audit_key=store.audit_key, sessions_ended=redis_publisher(settings)
        )
        try:
            match args.user_command:
                case "disable":
                    ended = users.disable(args.name, actor=actor)
                    print(f"disabled {args.name}; {ended} session(s) ended")
                case "enable":
                    users.enable(args.name, actor=actor)
                    print(f"enabled {args.name}")
                case "reset-password":
                    password = os.environ.get("TELLER_NEW_PASSWORD") or getpass.getpass(
                        f"new password for {args.name}: "
                    )
                    ended = users.set_password(args.name, password, actor=actor)
                    print(f"password of {args.name} reset; {ended} session(s) ended")
                case "set-role":
                    ended = users.set_role(args.name, Role(args.role), actor=actor)
                    print(f"{args.name} is now {args.role}; {ended} session(s) ended")
                case "totp-enroll":
                    uri = users.enrol_totp(args.name, actor=actor, issuer=settings.auth.totp_issuer)
                    print(uri)
                    print(
                        f"scan this into {args.name}'s authenticator app; it is not shown again",
                        file=sys.stderr,
                    )
        except UserError as exc:
            print(f"teller user {args.user_command}: {exc}", file=sys.stderr)
            return 2
    return 0


def _user_sessions(args: argparse.Namespace, settings: Settings) -> int:
    from server.auth.revocations import redis_publisher
    from server.auth.sessions import StaffSessions
    from server.auth.users import UserDirectory, UserError

    auth = settings.auth
    with open_store(settings) as store:
        if args.end:
            if not args.name:
                print("teller user sessions --end: name the user", file=sys.stderr)
                return 2
            try:
                users = UserDirectory(
                    store.engine, audit_key=store.audit_key, sessions_ended=redis_publisher(settings)
                )
                ended = users.end_sessions(args.name, actor=cli_actor())
            except UserError as exc:
                print(f"teller user sessions: {exc}", file=sys.stderr)
                return 2
            print(f"{ended} session(s) of {args.name} ended")
            return 0
        sessions = StaffSessions(store.engine, idle_s=auth.session_idle_s, max_age_s=auth.session_max_age_s)
        for info in sessions.sessions(args.name):
            print(
                f"{info.user}\t{info.id[:12]}\tsince {info.created_at.isoformat(timespec='seconds')}"
                f"\tlast seen {info.last_seen_at.isoformat(timespec='seconds')}\t{info.client or '-'}"
            )
    return 0


def _audit_verify(_args: argparse.Namespace, settings: Settings) -> int:
    from server.store.audit import verify_chain

    with open_store(settings) as store:
        report = verify_chain(store.engine, store.audit_key)
    if not report.ok:
        print(f"audit chain BROKEN at {report.bad}", file=sys.stderr)
        return 1
    print(f"audit chain OK: {report.rows} rows ({report.legacy} written before the chain, not verifiable)")
    return 0


def _audit_export(args: argparse.Namespace, settings: Settings) -> int:
    from server.store.audit import export_jsonl

    out = Path(args.out)
    with open_store(settings) as store:
        with out.open("w", encoding="utf-8") as handle:
            count = export_jsonl(store.engine, handle, since_seq=args.since)
        store.audit(cli_actor(), "audit.export", target=f"file:{out.name}", rows=count, since_seq=args.since)
    print(f"exported {count} audit records to {out}", file=sys.stderr)
    return 0


def add_user_commands(user_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``teller user …`` beyond ``add``."""

    def command(
        name: str, help_: str, run: Callable[[argparse.Namespace, Settings], int]
    ) -> argparse.ArgumentParser:
        parser = user_commands.add_parser(name, help=help_)
        parser.set_defaults(run=run)
        return parser

    command("disable", "disable a user and end their sessions now", _user_change).add_argument("name")
    command("enable", "enable a disabled user", _user_change).add_argument("name")
    command(
        "reset-password", "set a new password (TELLER_NEW_PASSWORD); ends sessions", _user_change
    ).add_argument("name")
    set_role = command("set-role", "change a user's role; ends their sessions", _user_change)
    set_role.add_argument("name")
    set_role.add_argument("--role", required=True, choices=ROLES)
    command(
        "totp-enroll", "give a user a new TOTP secret; prints the otpauth:// URI", _user_change
    ).add_argument("name")
    sessions = command(
        "sessions", "list staff sessions (of one user), or end them with --end", _user_sessions
    )
    sessions.add_argument("name", nargs="?")
    sessions.add_argument("--end", action="store_true", help="end every session of the user now")


def add_audit_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``teller audit verify|export``."""
    audit = commands.add_parser("audit", help="the tamper-evident audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    audit_commands.add_parser(
        "verify", help="check the hash chain; exit 1 at the first bad row"
    ).set_defaults(run=_audit_verify)
    export = audit_commands.add_parser("export", help="write the audit log as JSON lines (for a SIEM)")
    export.add_argument("--out", required=True, help="the file to write")
    export.add_argument("--since", type=int, default=0, help="only records after this seq")
    export.set_defaults(run=_audit_export)
