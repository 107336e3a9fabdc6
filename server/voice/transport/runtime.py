"""What the customer endpoints share: settings, the token signer, the session manager, WebRTC's
handler and the rate limits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pipecat.transports.smallwebrtc.connection import IceServer
from pipecat.transports.smallwebrtc.request_handler import SmallWebRTCRequest, SmallWebRTCRequestHandler

from server.config import Settings
from server.limits.guard import CustomerLimits
from server.voice.manager import SessionManager
from server.voice.transport import rtc_output, rtc_video
from server.voice.transport.ice import IceServers
from server.voice.transport.tokens import SessionTokens


class SessionWebRTCHandler(SmallWebRTCRequestHandler):
    """pipecat's handler, with the ICE servers (and TURN credentials) of each offer's session, and
    each peer connection bound to the session whose token created it."""

    def __init__(self) -> None:
        super().__init__()
        self._owners: dict[str, str] = {}  # pc_id → session id

    def owner(self, pc_id: str) -> str | None:
        """The session a live peer connection belongs to; None when there is no such connection."""
        self._forget_closed()
        return self._owners.get(pc_id) if pc_id in self._pcs_map else None

    def peer_count(self) -> int:
        """Peer connections this handler holds (live or being set up)."""
        return len(self._pcs_map)

    def peers(self) -> dict[str, str]:
        """Each live peer connection's pc_id and the session that owns it."""
        self._forget_closed()
        return dict(self._owners)

    async def handle_offer(
        self,
        request: SmallWebRTCRequest,
        on_connection: Callable[[Any], Awaitable[None]],
        ice_servers: list[IceServer],
        session_id: str,
    ) -> dict[str, str] | None:
        # pipecat builds a new connection from self._ice_servers before its first await, so
        # no other offer can change them in between (one event loop); renegotiations keep theirs.
        self.update_ice_servers(ice_servers)
        answer = await self.handle_web_request(request, on_connection)
        if answer is not None:
            self._owners[answer["pc_id"]] = session_id
        return answer

    async def discard(self, pc_id: str) -> None:
        """Close and forget one peer connection (one whose session was refused)."""
        self._owners.pop(pc_id, None)
        connection = self._pcs_map.pop(pc_id, None)
        if connection is not None:
            await connection.disconnect()

    def _forget_closed(self) -> None:
        for pc_id in [p for p in self._owners if p not in self._pcs_map]:
            del self._owners[pc_id]


@dataclass
class VoiceRuntime:
    settings: Settings
    tokens: SessionTokens
    manager: SessionManager
    webrtc: SessionWebRTCHandler
    ice: IceServers
    limits: CustomerLimits

    async def close(self) -> None:
        await self.manager.close()
        await self.webrtc.close()
        await self.limits.close()


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
        limits=CustomerLimits.from_settings(settings),
    )
