"""What the voice endpoints share: settings, the token signer, the session manager and WebRTC's handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pipecat.transports.smallwebrtc.connection import IceServer
from pipecat.transports.smallwebrtc.request_handler import SmallWebRTCRequest, SmallWebRTCRequestHandler

from server.config import Settings
from server.voice.manager import SessionManager
from server.voice.transport import rtc_output, rtc_video
from server.voice.transport.ice import IceServers
from server.voice.transport.tokens import SessionTokens


class SessionWebRTCHandler(SmallWebRTCRequestHandler):
    """pipecat's handler, with the ICE servers (and TURN credentials) of each offer's session."""

    async def handle_offer(
        self,
        request: SmallWebRTCRequest,
        on_connection: Callable[[Any], Awaitable[None]],
        ice_servers: list[IceServer],
    ) -> dict[str, str] | None:
        # pipecat builds a new connection from self._ice_servers before its first await, so
        # no other offer can change them in between (one event loop); renegotiations keep theirs.
        self.update_ice_servers(ice_servers)
        return await self.handle_web_request(request, on_connection)


@dataclass
class VoiceRuntime:
    settings: Settings
    tokens: SessionTokens
    manager: SessionManager
    webrtc: SessionWebRTCHandler
    ice: IceServers

    async def close(self) -> None:
        await self.manager.close()
        await self.webrtc.close()


def make_voice_runtime(settings: Settings, manager: SessionManager) -> VoiceRuntime:
    rtc_output.install(settings.voice.webrtc_audio_lookahead_ms)
    rtc_video.install()
    return VoiceRuntime(
        settings=settings,
        tokens=SessionTokens(
            settings.secret_key.get_secret_value() if settings.secret_key else None,
            settings.voice.token_ttl_secs,
        ),
        manager=manager,
        webrtc=SessionWebRTCHandler(),
        ice=IceServers(settings.turn, settings.voice.ice_servers),
    )
