"""The operator console's endpoints: the page at ``/operator`` and its websocket.

The websocket needs a staff session cookie with an operator role and a same-origin
``Origin`` header; a customer session token opens nothing here. It closes (4401) within
``auth.session_recheck_s`` once the staff session ends. Every text message is
one command of the protocol in ``server.operator.commands``; the server answers each
with an ``ack`` or an ``error`` carrying the command's ``client_msg_id`` and streams
``ConsoleEvent``s (session list, queue, transcripts, briefs, drafts, mode changes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, WebSocket, WebSocketDisconnect, status
from fastapi.responses import RedirectResponse, Response

from server.app_state import app_services
from server.auth.deps import current_session, read_session, require_role
from server.auth.service import StaffAuth, staff_auth
from server.auth.sessions import StaffSession
from server.auth.users import Role, StaffUser
from server.operator.commands import CONSOLE_EVENT, ErrorEvent, parse_command
from server.operator.errors import BadCommand, OperatorError
from server.operator.events import SessionSummary
from server.operator.hub import ConsoleFeed, OperatorHub
from server.operator.speech import BadAudio, OperatorTranscriber, parse_audio_message
from server.pages import page
from server.tasks import cancel_and_wait

log = logging.getLogger(__name__)
router = APIRouter()
CONSOLE_ROLES = (Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN)
_POLICY_VIOLATION = status.WS_1008_POLICY_VIOLATION
SESSION_ENDED = (
    4401  # close code: the staff session ended (logout, disabled, password or role changed, expired)
)


def _hub(conn: Request | WebSocket) -> OperatorHub:
    return app_services(conn).operators


@router.get("/operator", include_in_schema=False)
def console_page(request: Request) -> Response:
    session = current_session(request)
    if session is None:
        return RedirectResponse("/login?next=/operator", status_code=status.HTTP_303_SEE_OTHER)
    if session.user.role not in CONSOLE_ROLES:
        return Response("this role may not use the operator console", status_code=403)
    return page("operator.html")


@router.get("/api/v1/operator/config")
def console_config(
    request: Request, user: Annotated[StaffUser, Depends(require_role(*CONSOLE_ROLES))]
) -> dict[str, object]:
    settings = app_services(request).runtime.settings
    return {
        "operator": user.name,
        "role": user.role.value,
        "canned_phrases": settings.operator.canned_phrases,
    }


@router.get("/api/v1/operator/sessions")
def live_sessions(
    request: Request, _user: Annotated[StaffUser, Depends(require_role(*CONSOLE_ROLES))]
) -> list[SessionSummary]:
    return _hub(request).sessions()


def same_origin(websocket: WebSocket) -> bool:
    """Browsers always send ``Origin`` on websockets; it must name this very host."""
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host")
    if not origin or not host:
        return False
    return urlsplit(origin).netloc == host


@router.websocket("/api/v1/operator/ws")
async def console_socket(websocket: WebSocket) -> None:
    session = await read_session(websocket)
    if session is None or session.user.role not in CONSOLE_ROLES or not same_origin(websocket):
        await websocket.close(code=_POLICY_VIOLATION, reason="staff login and same origin required")
        return
    await websocket.accept()
    hub = _hub(websocket)
    feed = hub.connect()
    operator = session.user.name
    activity = _Activity()
    log.info("operator console connected", extra={"operator": operator})
    sender = asyncio.create_task(_send_events(websocket, feed), name="console-send")
    receiver = asyncio.create_task(
        _receive_commands(websocket, hub, feed, operator, activity), name="console-receive"
    )
    guard = asyncio.create_task(
        _session_ended(staff_auth(websocket), session, activity), name="console-guard"
    )
    ended = False
    try:
        done, _ = await asyncio.wait({sender, receiver, guard}, return_when=asyncio.FIRST_COMPLETED)
        ended = guard in done
        for task in done:
            if (error := task.exception()) is not None and not isinstance(error, WebSocketDisconnect):
                log.error("operator console connection failed", exc_info=error)
    finally:
        hub.disconnect(feed)
        await cancel_and_wait(sender, receiver, guard)
        log.info("operator console left", extra={"operator": operator, "session_ended": ended})
    if ended:
        await websocket.close(code=SESSION_ENDED, reason="staff session ended")


class _Activity:
    """Whether the console sent anything since its session was last checked (that counts as use)."""

    def __init__(self) -> None:
        self.seen = False


async def _session_ended(auth: StaffAuth, session: StaffSession, activity: _Activity) -> None:
    """Return once the staff session has ended: re-checked in the store every ``recheck_s``, and
    at once on a notice (a logout in this process; with Redis, any worker's or ``teller user``'s)."""
    notice = auth.sessions.watch(session)
    try:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(notice.wait(), auth.recheck_s)
            notice.clear()
            touch, activity.seen = activity.seen, False
            if await asyncio.to_thread(auth.sessions.check_id, session.id, touch=touch) is None:
                return
    finally:
        auth.sessions.unwatch(session, notice)


async def _receive_commands(
    websocket: WebSocket, hub: OperatorHub, feed: ConsoleFeed, operator: str, activity: _Activity
) -> None:
    transcriber = app_services(websocket).operator_speech
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        activity.seen = True
        if message.get("text") is not None:
            await _handle(hub, feed, operator, message["text"])
        elif message.get("bytes") is not None:
            await _handle_audio(hub, feed, operator, message["bytes"], transcriber)


async def _handle_audio(
    hub: OperatorHub, feed: ConsoleFeed, operator: str, data: bytes, transcriber: OperatorTranscriber
) -> None:
    """The operator spoke a line: transcribe it, then run it as a ``say`` with the same id."""
    try:
        header, samples = parse_audio_message(data)
    except BadAudio as exc:
        feed.put(ErrorEvent(code=exc.code, message=str(exc), client_msg_id=exc.client_msg_id))
        return
    if (done := hub.ledger.seen(operator, header.client_msg_id)) is not None:
        feed.put(done)  # a resend after a reconnect: not transcribed or spoken twice
        return
    try:
        say = await transcriber.say_command(header, samples)
        feed.put(await hub.execute(operator, say, feed))
    except OperatorError as exc:
        feed.put(_refusal(exc, header.client_msg_id))


async def _handle(hub: OperatorHub, feed: ConsoleFeed, operator: str, raw: str) -> None:
    """Run one command; its ack or error goes out through the feed, in order with the events."""
    try:
        command = parse_command(raw)
    except BadCommand as exc:
        feed.put(ErrorEvent(code=exc.code, message=str(exc), client_msg_id=_message_id(raw)))
        return
    try:
        feed.put(await hub.execute(operator, command, feed))
    except OperatorError as exc:
        feed.put(_refusal(exc, command.client_msg_id))


def _refusal(exc: OperatorError, client_msg_id: str | None) -> ErrorEvent:
    return ErrorEvent(code=exc.code, message=str(exc), retryable=exc.retryable, client_msg_id=client_msg_id)


def _message_id(raw: str) -> str | None:
    """The ``client_msg_id`` of a message that failed validation, when it has a usable one."""
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    msg_id = message.get("client_msg_id") if isinstance(message, dict) else None
    return msg_id if isinstance(msg_id, str) and 0 < len(msg_id) <= 64 else None


async def _send_events(websocket: WebSocket, feed: ConsoleFeed) -> None:
    while True:
        event = await feed.get()
        await websocket.send_text(CONSOLE_EVENT.dump_json(event).decode())
