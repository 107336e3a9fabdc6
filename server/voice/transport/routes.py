"""HTTP and websocket endpoints of the voice path.

``GET /api/v1/session`` gives a page a session id and a signed token; the WebRTC
offer, its ICE patches and the websocket (as a subprotocol, ``tokens.ws_subprotocols``) all
require that token, and a peer connection serves only the session whose token created it. In a
cluster it also picks the worker (dispatch, ``server.cluster``): the token names it, the page
signals under its prefix ``/w/<worker>``, and any other worker refuses the token (409, websocket close 4409).

``POST /api/v1/session/resume`` gives a page that lost its connection a new grant for the
same session, with the token it had (its signature and age are checked, not its worker, which
may be dead): on the worker it had if that one is still serving, else wherever dispatch puts
it. The worker that opens a session picks it up from the store (``server.voice.resume``); one
an operator closed is refused (410, websocket close 4410).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, WebSocket
from pipecat.transports.base_transport import TransportParams
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.request_handler import (
    IceCandidate,
    SmallWebRTCPatchRequest,
    SmallWebRTCRequest,
)
from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import HTTPConnection

from server.app_state import app_services
from server.cluster.identity import SINGLE_PROCESS, Placement
from server.config import Settings
from server.limits.buckets import SessionBuckets
from server.limits.guard import client_address
from server.store.retry import StoreUnavailable
from server.turns import new_session_id
from server.voice.manager import CapacityError
from server.voice.resume import NEW_SESSION, SessionEnded, SessionHistory
from server.voice.transport.ice import IceServerEntry
from server.voice.transport.rtc_input import release_audio_promptly
from server.voice.transport.runtime import VoiceRuntime
from server.voice.transport.tokens import WS_PROTOCOL, TokenError, WrongWorker, token_from_subprotocols
from server.voice.transport.websocket import (
    WS_FLOOD_CODE,
    TellerSerializer,
    TellerWebsocketTransport,
    WsLimits,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1")


def _voice(request: Request) -> VoiceRuntime:
    return app_services(request).voice


PEER_WRITE_TIMEOUT_S = 30.0


def _media_params(settings: Settings, *, out_chunk_ms: int = 100) -> dict[str, Any]:
    size = settings.avatar.size
    return {
        "audio_in_enabled": True,
        "audio_out_enabled": True,
        "audio_in_sample_rate": 16_000,
        "audio_out_sample_rate": settings.voice.audio_out_sample_rate,
        # pipecat writes one chunk at a time and waits until the transport has taken it; the
        # websocket sends 100 ms messages, WebRTC's track keeps a look-ahead (rtc_output)
        "audio_out_10ms_chunks": out_chunk_ms // 10,
        # A write also waits while a barge-in hold keeps the reply queued (rtc_output), until VAD
        # decides; on a saturated machine that decision can lag by seconds, and pipecat's 10 s
        # default then wrote a live customer off. A peer that is really gone ends the call anyway
        # (ICE consent for WebRTC, the socket closing for the websocket).
        "audio_out_write_timeout_secs": PEER_WRITE_TIMEOUT_S,
        "video_out_enabled": settings.voice.video,
        "video_out_is_live": True,
        "video_out_width": size,
        "video_out_height": size,
        "video_out_framerate": settings.avatar.fps,
    }


RECORDS_AWAY = "our records are unavailable for a moment; please try again"
RETRY_SOON = {"Retry-After": "2"}


class SessionGrant(BaseModel):
    session_id: str
    token: str
    expires_in: int
    ice_servers: list[IceServerEntry] = Field(default_factory=list)  # STUN; TURN with its credentials
    # The worker that will hold the session (None: this one process) and its signalling base:
    # the page posts its offer and opens its websocket under it ("": this origin).
    worker: str | None = None
    signalling_url: str = ""


class ResumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, Field(min_length=1, max_length=2_000)]


class OfferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sdp: Annotated[str, Field(min_length=10, max_length=12_000)]
    type: Annotated[str, Field(pattern="^offer$")]
    token: str
    pc_id: str | None = None
    restart_pc: bool | None = None


class CandidateIn(BaseModel):
    candidate: str
    sdp_mid: str
    sdp_mline_index: int


class PatchRequest(BaseModel):
    pc_id: str
    token: str
    candidates: Annotated[list[CandidateIn], Field(max_length=50)]


@router.get("/session", response_model=SessionGrant)
async def new_session(request: Request) -> SessionGrant:
    await _voice(request).limits.check("session_per_ip", client_address(request))
    session_id = new_session_id()
    return _grant(_voice(request), session_id, await _place(request, session_id))


@router.post("/session/resume", response_model=SessionGrant)
async def resume_session(body: ResumeRequest, request: Request) -> SessionGrant:
    voice = _voice(request)
    await voice.limits.check("session_per_ip", client_address(request))
    max_age = voice.settings.voice.resume_max_age_s
    if max_age <= 0:
        raise HTTPException(status_code=404, detail="sessions are not resumed here; start a new one")
    try:
        claims = voice.tokens.verify_resume(body.token, max_age)
    except TokenError as exc:
        raise HTTPException(status_code=401, detail=str(exc)) from exc
    placement = await _place(request, claims.session_id, previous=claims.worker)
    log.info("session resumed", extra={"session_id": claims.session_id, "placed_on": placement.worker})
    return _grant(voice, claims.session_id, placement)


def _grant(voice: VoiceRuntime, session_id: str, placement: Placement) -> SessionGrant:
    return SessionGrant(
        session_id=session_id,
        token=voice.tokens.issue(session_id, placement.worker),
        expires_in=voice.settings.voice.token_ttl_secs,
        ice_servers=voice.ice.for_client(session_id),
        worker=placement.worker,
        signalling_url=placement.prefix,
    )


async def _place(request: Request, session_id: str, previous: str | None = None) -> Placement:
    """Where the session goes: ``previous`` (its worker before) while that one is serving, so a
    session whose old connection that worker has not yet seen drop is not opened twice; else the
    least loaded worker."""
    cluster = app_services(request).cluster
    if cluster is None:
        return SINGLE_PROCESS  # capacity is checked when the session connects, as always
    try:
        return await cluster.place(session_id, previous)
    except CapacityError as exc:  # every worker is full or draining: the page offers typing
        raise HTTPException(status_code=503, detail=str(exc)) from exc


def _this_worker(conn: HTTPConnection) -> str | None:
    cluster = app_services(conn).cluster
    return cluster.worker_id if cluster is not None else None


def _verify(request: Request, token: str) -> str:
    try:
        return _voice(request).tokens.verify(token, _this_worker(request))
    except WrongWorker as exc:  # misrouted by the edge: visible, not silently served here
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    except TokenError as exc:
        raise HTTPException(status_code=401, detail=str(exc)) from exc


@router.post("/webrtc/offer")
async def webrtc_offer(body: OfferRequest, request: Request) -> dict[str, str]:
    voice = _voice(request)
    client_ip = client_address(request)
    await voice.limits.check("signalling_per_ip", client_ip)
    session_id = _verify(request, body.token)
    # A renegotiation must come from the session that owns the connection; a pc_id this worker
    # does not hold (gone, or made up) is a new connection, and counts against capacity.
    pc_id = body.pc_id if body.pc_id is not None and _owned_peer(voice, body.pc_id, session_id) else None
    history = NEW_SESSION
    if pc_id is None:
        try:
            voice.manager.check_capacity(session_id, client_ip)
        except CapacityError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        try:
            history = await voice.manager.history(session_id)
        except SessionEnded as exc:
            raise HTTPException(status_code=410, detail=str(exc)) from exc
        except StoreUnavailable as exc:
            raise HTTPException(status_code=503, detail=RECORDS_AWAY, headers=RETRY_SOON) from exc
    refused: list[HTTPException] = []

    async def on_connection(connection: SmallWebRTCConnection) -> None:
        # pipecat logs and swallows what this raises, and keeps the connection: note the refusal
        try:
            release_audio_promptly(connection.pc)
            transport = SmallWebRTCTransport(
                webrtc_connection=connection,
                params=TransportParams(
                    **_media_params(voice.settings, out_chunk_ms=voice.settings.voice.webrtc_audio_chunk_ms)
                ),
            )
            await voice.manager.start(transport, session_id, "webrtc", client_ip, history=history)
        except CapacityError as exc:  # filled up (or connected again) while the history was read
            refused.append(HTTPException(status_code=503, detail=str(exc)))
        except StoreUnavailable:
            refused.append(HTTPException(status_code=503, detail=RECORDS_AWAY, headers=RETRY_SOON))
        except Exception:
            log.exception("voice session could not start", extra={"session_id": session_id})
            refused.append(HTTPException(status_code=500, detail="the session could not start"))

    answer = await voice.webrtc.handle_offer(
        SmallWebRTCRequest(sdp=body.sdp, type=body.type, pc_id=pc_id, restart_pc=body.restart_pc),
        on_connection,
        voice.ice.for_peer(session_id),
        session_id,
    )
    if answer is None:
        raise HTTPException(status_code=500, detail="no SDP answer")
    if refused:  # close the peer connection nobody will serve
        await voice.webrtc.discard(answer["pc_id"])
        raise refused[0]
    return answer


def _owned_peer(voice: VoiceRuntime, pc_id: str, session_id: str) -> bool:
    """True when ``pc_id`` is a live connection of ``session_id``; False when there is none.
    Raises 403 for another session's connection."""
    owner = voice.webrtc.owner(pc_id)
    if owner is not None and owner != session_id:
        raise HTTPException(status_code=403, detail="this connection belongs to another session")
    return owner is not None


@router.patch("/webrtc/offer")
async def webrtc_candidates(body: PatchRequest, request: Request) -> dict[str, str]:
    voice = _voice(request)
    await voice.limits.check("signalling_per_ip", client_address(request))
    session_id = _verify(request, body.token)
    if not _owned_peer(voice, body.pc_id, session_id):
        raise HTTPException(status_code=404, detail="no such connection")
    await voice.webrtc.handle_patch_request(
        SmallWebRTCPatchRequest(
            pc_id=body.pc_id,
            candidates=[IceCandidate(c.candidate, c.sdp_mid, c.sdp_mline_index) for c in body.candidates],
        )
    )
    return {"status": "ok"}


@router.websocket("/ws")
async def websocket_session(websocket: WebSocket) -> None:
    voice = app_services(websocket).voice
    # The token comes as a subprotocol (tokens.ws_subprotocols), never in the URL
    token = token_from_subprotocols(list(websocket.scope.get("subprotocols", [])))
    try:
        session_id = voice.tokens.verify(token, _this_worker(websocket))
    except WrongWorker as exc:
        await websocket.close(code=4409, reason=str(exc)[:120])
        return
    except TokenError as exc:
        await websocket.close(code=4401, reason=str(exc)[:120])
        return
    client_ip = client_address(websocket)
    try:
        voice.manager.check_capacity(session_id, client_ip)
    except CapacityError as exc:
        await websocket.close(code=4503, reason=str(exc)[:120])
        return
    await voice.manager.services()
    await websocket.accept(subprotocol=WS_PROTOCOL)  # then a refusal below reaches the page with its code
    history = await _history_or_close(voice, websocket, session_id)
    if history is None:
        return
    params = FastAPIWebsocketParams(
        **_media_params(voice.settings),
        serializer=TellerSerializer(limits=_ws_limits(voice, websocket)),
        allowed_origins=[],
    )
    transport = TellerWebsocketTransport(websocket, params)
    try:
        await voice.manager.start(transport, session_id, "websocket", client_ip, history=history)
    except CapacityError as exc:  # filled up (or connected again) while the history was read
        await websocket.close(code=4503, reason=str(exc)[:120])
        return
    except StoreUnavailable:  # the pick-up could not be audited
        await websocket.close(code=1013, reason=RECORDS_AWAY)
        return
    await voice.manager.wait_closed(session_id)


def _ws_limits(voice: VoiceRuntime, websocket: WebSocket) -> WsLimits:
    async def flooded() -> None:
        await websocket.close(code=WS_FLOOD_CODE, reason="too many messages; reconnect and slow down")

    limits = voice.limits.settings
    return WsLimits(SessionBuckets(limits.ws_messages), SessionBuckets(limits.ws_audio_s), flooded)


async def _history_or_close(
    voice: VoiceRuntime, websocket: WebSocket, session_id: str
) -> SessionHistory | None:
    """The session's history (``server.voice.resume``); None once the websocket is closed with why."""
    try:
        return await voice.manager.history(session_id)
    except SessionEnded as exc:
        await websocket.close(code=4410, reason=str(exc)[:120])
    except StoreUnavailable:
        await websocket.close(code=1013, reason=RECORDS_AWAY)  # 1013: try again later
    return None
