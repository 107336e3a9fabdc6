"""HTTP and websocket endpoints of the voice path.

``GET /api/v1/session`` gives a page a session id and a signed token; the WebRTC
offer and the websocket both require that token.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, WebSocket
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

from server.app_state import app_services
from server.config import Settings
from server.turns import new_session_id
from server.voice.manager import CapacityError
from server.voice.transport.rtc_input import release_audio_promptly
from server.voice.transport.runtime import VoiceRuntime
from server.voice.transport.tokens import TokenError
from server.voice.transport.websocket import TellerSerializer, TellerWebsocketTransport

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1")


def _voice(request: Request) -> VoiceRuntime:
    return app_services(request).voice


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
        "video_out_enabled": settings.voice.video,
        "video_out_is_live": True,
        "video_out_width": size,
        "video_out_height": size,
        "video_out_framerate": settings.avatar.fps,
    }


class SessionGrant(BaseModel):
    session_id: str
    token: str
    expires_in: int


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
def new_session(request: Request) -> SessionGrant:
    voice = _voice(request)
    session_id = new_session_id()
    return SessionGrant(
        session_id=session_id,
        token=voice.tokens.issue(session_id),
        expires_in=voice.settings.voice.token_ttl_secs,
    )


def _verify(voice: VoiceRuntime, token: str) -> str:
    try:
        return voice.tokens.verify(token)
    except TokenError as exc:
        raise HTTPException(status_code=401, detail=str(exc)) from exc


@router.post("/webrtc/offer")
async def webrtc_offer(body: OfferRequest, request: Request) -> dict[str, str]:
    voice = _voice(request)
    session_id = _verify(voice, body.token)
    client_ip = request.client.host if request.client else "unknown"
    if body.pc_id is None:
        try:
            voice.manager.check_capacity(session_id, client_ip)
        except CapacityError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        await voice.manager.services()

    async def on_connection(connection: SmallWebRTCConnection) -> None:
        release_audio_promptly(connection.pc)
        transport = SmallWebRTCTransport(
            webrtc_connection=connection,
            params=TransportParams(
                **_media_params(voice.settings, out_chunk_ms=voice.settings.voice.webrtc_audio_chunk_ms)
            ),
        )
        await voice.manager.start(transport, session_id, "webrtc", client_ip)

    answer = await voice.webrtc.handle_web_request(
        SmallWebRTCRequest(sdp=body.sdp, type=body.type, pc_id=body.pc_id, restart_pc=body.restart_pc),
        on_connection,
    )
    if answer is None:
        raise HTTPException(status_code=500, detail="no SDP answer")
    return answer


@router.patch("/webrtc/offer")
async def webrtc_candidates(body: PatchRequest, request: Request) -> dict[str, str]:
    voice = _voice(request)
    _verify(voice, body.token)
    await voice.webrtc.handle_patch_request(
        SmallWebRTCPatchRequest(
            pc_id=body.pc_id,
            candidates=[IceCandidate(c.candidate, c.sdp_mid, c.sdp_mline_index) for c in body.candidates],
        )
    )
    return {"status": "ok"}


@router.websocket("/ws")
async def websocket_session(websocket: WebSocket, token: Annotated[str | None, Query()] = None) -> None:
    voice = app_services(websocket).voice
    try:
        session_id = voice.tokens.verify(token)
    except TokenError as exc:
        await websocket.close(code=4401, reason=str(exc)[:120])
        return
    client_ip = websocket.client.host if websocket.client else "unknown"
    try:
        voice.manager.check_capacity(session_id, client_ip)
    except CapacityError as exc:
        await websocket.close(code=4503, reason=str(exc)[:120])
        return
    await voice.manager.services()
    await websocket.accept()
    params = FastAPIWebsocketParams(
        **_media_params(voice.settings), serializer=TellerSerializer(), allowed_origins=[]
    )
    await voice.manager.start(TellerWebsocketTransport(websocket, params), session_id, "websocket", client_ip)
    await voice.manager.wait_closed(session_id)
