"""``teller``: the one command-line entry point."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from server.cli_security import add_audit_commands, add_user_commands, cli_actor, open_store
from server.config import Settings, load_settings
from server.logs import configure_logging

log = logging.getLogger("teller")


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from server.cluster import ClusterConfigError, registry_enabled, worker_count

    if args.port:
        server = settings.server.model_copy(update={"port": args.port})
        settings = settings.model_copy(update={"server": server})
    if args.worker_index is not None:  # started by the supervisor below
        from server.cluster.worker import serve_worker

        return serve_worker(settings, args.worker_index, args.host or settings.server.host)
    try:
        count = worker_count(settings, args.workers)
    except ClusterConfigError as exc:
        print(f"teller serve: {exc}", file=sys.stderr)
        return 2
    if registry_enabled(settings):
        return _serve_cluster(args, settings, count)

    import uvicorn

    from server.app import create_app
    from server.limits.ws_size import WS_MAX_SIZE
    from server.runtime import open_runtime

    runtime = open_runtime(settings, build_if_missing=True)
    uvicorn.run(
        create_app(settings, runtime),
        host=args.host or settings.server.host,
        port=args.port or settings.server.port,
        log_config=None,
        ws="websockets-sansio",
        ws_max_size=WS_MAX_SIZE,  # the largest legal message: bigger ones are refused before the app
        forwarded_allow_ips=settings.server.forwarded_allow_ips,
    )
    runtime.close()
    return 0


def _serve_cluster(args: argparse.Namespace, settings: Settings, count: int) -> int:
    """The supervisor of ``count`` workers (``server.cluster``): worker ii on worker_base_port + ii."""
    import subprocess

    from server.cluster.supervisor import run_supervisor, worker_command

    # Build the knowledge once if none is live, not once per worker at the same time.
    built = subprocess.run([sys.executable, "-m", "server.cli", "kb", "build", "--if-missing"], check=False)
    if built.returncode != 0:
        return built.returncode
    base = settings.server.worker_base_port
    log.info("starting workers", extra={"workers": count, "ports": f"{base}-{base + count - 1}"})
    return run_supervisor(count, lambda index: worker_command(index, args.host, args.port))


def _kb_build(args: argparse.Namespace, settings: Settings) -> int:
    from server.runtime import build_knowledge, open_index

    index = open_index(settings)
    if args.if_missing and index.active_version() is not None:
        print(f"knowledge version {index.active_version()} is live; nothing to build")
        return 0
    version = build_knowledge(index, settings)
    print(f"built and activated knowledge version {version}")
    return 0


def _user_add(args: argparse.Namespace, settings: Settings) -> int:
    import getpass
    import os

    from server.auth.service import store_engine
    from server.auth.users import Role, UserDirectory, UserError

    password = os.environ.get("TELLER_NEW_PASSWORD") or getpass.getpass(f"password for {args.name}: ")
    with open_store(settings) as store:
        try:
            UserDirectory(store_engine(store), audit_key=store.audit_key).add(
                args.name, Role(args.role), password, actor=cli_actor()
            )
        except UserError as exc:
            print(f"teller user add: {exc}", file=sys.stderr)
            return 2
    print(f"added {args.role} {args.name}")
    return 0


def _tickets_export(args: argparse.Namespace, settings: Settings) -> int:
    from server.store.tickets import TicketStore

    with open_store(settings) as store:
        if args.out:
            with open(args.out, "w", encoding="utf-8") as out:
                count = TicketStore(store.engine).export(out, args.session)
            print(f"exported {count} tickets to {args.out}", file=sys.stderr)
        else:
            count = TicketStore(store.engine).export(sys.stdout, args.session)
        store.audit(cli_actor(), "tickets.export", args.session, tickets=count, to_file=bool(args.out))
    return 0


def _db(args: argparse.Namespace, settings: Settings) -> int:
    from server.store.migrate import current_revision, head_revision, migrate
    from server.store.store import open_store_engine

    engine = open_store_engine(settings.store.url)
    try:
        if args.db_command == "upgrade":
            print(f"store at revision {migrate(engine)} (head {head_revision()})")
        else:
            print(f"{current_revision(engine) or 'none'} (head {head_revision()})")
    finally:
        engine.dispose()
    return 0


def _avatar_build(args: argparse.Namespace, settings: Settings) -> int:
    from avatar.photo.asset import build_photo_asset

    path = build_photo_asset(args.photo, args.name, args.out, landmarks=args.landmarks)
    print(f"avatar asset written to {path}; use it with avatar.kind=photo, avatar.asset_path={path}")
    return 0


def _reply_json(reply: Any, session_id: str) -> dict[str, Any]:
    from server.turns import citation_dicts

    return {
        "session_id": session_id,
        "decision": reply.decision.value,
        "text": reply.text,
        "confidence": reply.confidence,
        "citations": citation_dicts(reply),
    }


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from server.runtime import open_runtime
    from server.turns import new_session_id, take_text_turn

    runtime = open_runtime(settings, build_if_missing=True)
    try:
        if not args.jsonl:
            if not args.question:
                print(
                    "teller ask: give a question, or --jsonl to read JSON lines from stdin", file=sys.stderr
                )
                return 2
            session_id = args.session or new_session_id()
            reply = take_text_turn(runtime.brain, runtime.store, session_id, " ".join(args.question), "cli")
            print(json.dumps(_reply_json(reply, session_id)) if args.json else reply.text)
            return 0
        for number, line in enumerate(sys.stdin, start=1):
            if not line.strip():
                continue
            out = _ask_line(runtime, line, number)
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()
        return 0
    finally:
        runtime.close()


def _ask_line(runtime: Any, line: str, number: int) -> dict[str, Any]:
    from server.turns import new_session_id, take_text_turn

    try:
        item = json.loads(line)
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not item["text"].strip():
            raise ValueError("each line must be a JSON object with a non-empty string 'text'")
    except ValueError as exc:
        return {"id": None, "line": number, "error": str(exc)}
    session_id = str(item.get("session_id") or new_session_id())
    reply = take_text_turn(runtime.brain, runtime.store, session_id, item["text"][:1000], "cli")
    return {"id": item.get("id"), **_reply_json(reply, session_id)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="teller", description="Digital Teller: a bank's digital human.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the HTTP API and pages")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers",
        type=int,
        help="worker processes, with the Redis session registry (default server.workers; 0: one per core)",
    )
    serve.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)  # a worker of the supervisor
    serve.set_defaults(run=_serve)

    kb = commands.add_parser("kb", help="knowledge base commands")
    kb_commands = kb.add_subparsers(dest="kb_command", required=True)
    build = kb_commands.add_parser("build", help="build the configured knowledge into a new live version")
    build.add_argument("--if-missing", action="store_true", help="do nothing when a version is live")
    build.set_defaults(run=_kb_build)

    user = commands.add_parser("user", help="staff users")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    user_add = user_commands.add_parser("add", help="add a staff user (password from TELLER_NEW_PASSWORD)")
    user_add.add_argument("name")
    user_add.add_argument("--role", required=True, choices=["operator", "supervisor", "editor", "admin"])
    user_add.set_defaults(run=_user_add)
    add_user_commands(user_commands)

    tickets = commands.add_parser("tickets", help="hand-off and close tickets")
    ticket_commands = tickets.add_subparsers(dest="tickets_command", required=True)
    export = ticket_commands.add_parser("export", help="print stored tickets as a JSON array")
    export.add_argument("--session", help="only this session's tickets")
    export.add_argument("--out", help="write to this file instead of stdout")
    export.set_defaults(run=_tickets_export)

    add_audit_commands(commands)

    db = commands.add_parser("db", help="the store's schema (Alembic migrations)")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="migrate the store to the newest schema").set_defaults(run=_db)
    db_commands.add_parser("current", help="print the store's schema revision").set_defaults(run=_db)

    avatar = commands.add_parser("avatar", help="avatar assets")
    avatar_commands = avatar.add_subparsers(dest="avatar_command", required=True)
    avatar_build = avatar_commands.add_parser("build", help="prepare a photo avatar from a frontal portrait")
    avatar_build.add_argument("photo")
    avatar_build.add_argument("--name", required=True)
    avatar_build.add_argument("--out", default="var/avatars")
    avatar_build.add_argument(
        "--landmarks",
        choices=["5", "68"],
        default="5",
        help="68 uses dlib's iBUG 300-W model, whose licence excludes commercial use",
    )
    avatar_build.set_defaults(run=_avatar_build)

    ask = commands.add_parser("ask", help="ask a question in text")
    ask.add_argument("question", nargs="*")
    ask.add_argument("--jsonl", action="store_true", help='read {"id","text"} lines from stdin')
    ask.add_argument("--json", action="store_true", help="print the whole result as JSON")
    ask.add_argument("--session", help="continue this session id")
    ask.set_defaults(run=_ask)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log.level, settings.log.json_format)
    code: int = args.run(args, settings)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
