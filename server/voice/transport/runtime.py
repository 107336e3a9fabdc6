"""What the voice endpoints share: settings, the token signer, the session manager and WebRTC's handler."""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.transports.smallwebrtc.request_handler import SmallWebRTCRequestHandler

from server.config import Settings
from server.voice.manager import SessionManager
from server.voice.transport import rtc_output, rtc_video
from server.voice.transport.tokens import SessionTokens


@dataclass
class VoiceRuntime:
    settings: Settings
    tokens: SessionTokens
    manager: SessionManager
    webrtc: SmallWebRTCRequestHandler

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
        webrtc=SmallWebRTCRequestHandler(),
    )
