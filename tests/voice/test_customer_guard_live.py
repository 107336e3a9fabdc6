"""The voice endpoints attacked on a live server (uvicorn on a loopback port, real models, default
limits): peer connections bound to their session, capacity that leaks no peer connection, one
voice session per address, websocket size and rate limits, no token in the access log, and the
maximum session length."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from aiortc import RTCPeerConnection
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection

from bench.harness.serve import serve_app
from bench.harness.voice_probe import VoiceProbe
from knowledge.embeddings import Embedder
from server.app import create_app
from server.config import RateRule
from server.limits.ws_size import WS_MAX_SIZE
from server.runtime import open_runtime
from server.voice.manager import CapacityError
from server.voice.transport.runtime import VoiceRuntime
from server.voice.transport.tokens import ws_subprotocols
from server.voice.transport.websocket import WS_FLOOD_CODE
from tests.conftest import make_settings
from tests.voice.conftest import LiveServer

pytestmark = pytest.mark.slow


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def access_log() -> Iterator[LogCapture]:
    capture = LogCapture()
    logger = logging.getLogger("uvicorn")
    logger.addHandler(capture)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)


@pytest.fixture(scope="module")
def guarded(
    tmp_path_factory: pytest.TempPathFactory, demo_index_dir: Path, embedder: Embedder, access_log: LogCapture
) -> Iterator[LiveServer]:
    """A live server with the shipped defaults (one voice session per address)."""
    workdir = tmp_path_factory.mktemp("guard")
    settings = make_settings(workdir)
    settings.knowledge.index_dir = demo_index_dir
    settings.voice.model_cache_dir = Path("var/models").resolve()
    settings.voice.speech_cache_dir = workdir / "speech_cache"
    assert settings.voice.max_sessions_per_ip == 1
    runtime = open_runtime(settings, embedder=embedder)
    app = create_app(settings, runtime)
    try:
        with serve_app(app, name="guard-server", load_voice=True, log_level="info") as base_url:
            yield LiveServer(base_url, app, runtime, settings)
    finally:
        runtime.close()


def voice(server: LiveServer) -> VoiceRuntime:
    runtime: VoiceRuntime = server.app.state.services.voice
    return runtime


async def on_server(server: LiveServer, coro: Coroutine[Any, Any, None]) -> None:
    """Await ``coro`` on the server's own loop."""
    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, server.app.state.serve_loop))


@pytest.fixture()
async def idle(guarded: LiveServer) -> LiveServer:
    await on_server(guarded, voice(guarded).manager.wait_idle())  # the last test's session has ended
    return guarded


def open_server_peers() -> int:
    return sum(
        1
        for o in gc.get_objects()
        if isinstance(o, SmallWebRTCConnection) and o.pc.connectionState not in ("closed", "failed")
    )


async def offer_sdp() -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection()
    pc.addTransceiver("audio")
    pc.createDataChannel("teller")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


def ws_url(server: LiveServer) -> str:
    return server.base_url.replace("http://", "ws://") + "/api/v1/ws"


async def test_another_sessions_peer_connection_cannot_be_renegotiated_or_patched(idle: LiveServer) -> None:
    async with VoiceProbe(idle.base_url) as probe, httpx.AsyncClient(base_url=idle.base_url) as http:
        await probe.wait_for(lambda: probe.events("session"), 60)
        peers = voice(idle).webrtc.peers()
        (pc_id,) = [p for p, owner in peers.items() if owner == probe.session_id]
        intruder = (await http.get("/api/v1/session")).json()
        pc, sdp = await offer_sdp()
        try:
            offer = {"sdp": sdp, "type": "offer", "token": intruder["token"], "pc_id": pc_id}
            hijack = await http.post("/api/v1/webrtc/offer", json=offer)
            assert hijack.status_code == 403 and "another session" in hijack.json()["error"]
            patch = {"pc_id": pc_id, "token": intruder["token"], "candidates": []}
            patched = await http.patch("/api/v1/webrtc/offer", json=patch)
            assert patched.status_code == 403
            own = await http.patch("/api/v1/webrtc/offer", json={**patch, "token": probe.token})
            assert own.status_code == 200
        finally:
            await pc.close()
        assert voice(idle).webrtc.peers() == peers


async def test_a_second_voice_session_from_one_address_is_refused_and_leaks_no_peer(
    idle: LiveServer,
) -> None:
    runtime = voice(idle)
    async with VoiceProbe(idle.base_url) as probe, httpx.AsyncClient(base_url=idle.base_url) as http:
        await probe.wait_for(lambda: probe.events("session"), 60)
        count, live = runtime.webrtc.peer_count(), open_server_peers()
        second = VoiceProbe(idle.base_url)
        try:
            with pytest.raises(httpx.HTTPStatusError) as refused:
                await second.connect()
        finally:
            await second.close()
        assert refused.value.response.status_code == 503
        assert "this address" in refused.value.response.json()["error"]
        # a made-up pc_id is a new connection: it goes through the capacity check too
        grant = (await http.get("/api/v1/session")).json()
        pc, sdp = await offer_sdp()
        try:
            offer = {"sdp": sdp, "type": "offer", "token": grant["token"], "pc_id": "made-up"}
            made_up = await http.post("/api/v1/webrtc/offer", json=offer)
        finally:
            await pc.close()
        assert made_up.status_code == 503
        assert (runtime.webrtc.peer_count(), open_server_peers()) == (count, live)
        assert len(runtime.manager.sessions()) == 1


async def test_a_session_refused_after_its_peer_was_made_leaves_no_peer(
    idle: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = voice(idle)
    count, live = runtime.webrtc.peer_count(), open_server_peers()

    async def full(*_: object, **__: object) -> None:
        raise CapacityError("filled up meanwhile")

    monkeypatch.setattr(runtime.manager, "start", full)  # the race: full between check and start
    async with httpx.AsyncClient(base_url=idle.base_url) as http:
        grant = (await http.get("/api/v1/session")).json()
        pc, sdp = await offer_sdp()
        try:
            refused = await http.post(
                "/api/v1/webrtc/offer", json={"sdp": sdp, "type": "offer", "token": grant["token"]}
            )
        finally:
            await pc.close()
    assert refused.status_code == 503 and "filled up" in refused.json()["error"]
    assert (runtime.webrtc.peer_count(), open_server_peers()) == (count, live)


async def grant(server: LiveServer) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        granted: dict[str, Any] = (await http.get("/api/v1/session")).raise_for_status().json()
        return granted


async def next_text(ws: Any) -> dict[str, Any]:
    while True:
        message = await asyncio.wait_for(ws.recv(), 60)
        if isinstance(message, str):
            event: dict[str, Any] = json.loads(message)
            return event


async def test_websocket_token_is_a_subprotocol_and_never_logged(
    idle: LiveServer, access_log: LogCapture
) -> None:
    granted = await grant(idle)
    async with websockets.connect(ws_url(idle), subprotocols=ws_subprotocols(granted["token"])) as ws:
        assert ws.subprotocol == "teller.v1"
        assert (await next_text(ws))["type"] == "session"
    accepted = [line for line in access_log.lines if "WebSocket /api/v1/ws" in line]
    assert accepted, access_log.lines  # the access log was captured
    assert not any(granted["token"] in line for line in access_log.lines)
    # the URL form is gone: a token there opens nothing
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(f"{ws_url(idle)}?token={granted['token']}"):
            pass


async def test_an_oversized_websocket_message_is_refused_by_uvicorn(idle: LiveServer) -> None:
    granted = await grant(idle)
    async with websockets.connect(
        ws_url(idle), subprotocols=ws_subprotocols(granted["token"]), max_size=2**22
    ) as ws:
        assert (await next_text(ws))["type"] == "session"
        await ws.send(b"\x00" * (WS_MAX_SIZE + 2))
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 60)
    assert ws.close_code == 1009  # "message too big", from the protocol layer: the app never saw it


async def test_a_websocket_flood_is_closed_with_4429(
    idle: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(voice(idle).limits.settings, "ws_messages", RateRule(rate=0.5, burst=5))
    granted = await grant(idle)
    async with websockets.connect(ws_url(idle), subprotocols=ws_subprotocols(granted["token"])) as ws:
        assert (await next_text(ws))["type"] == "session"
        for _ in range(10):
            await ws.send(json.dumps({"type": "speech_rate", "slow": False}))
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 60)
    assert ws.close_code == WS_FLOOD_CODE


async def test_a_session_ends_politely_at_its_time_limit(
    idle: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idle.settings.voice, "max_session_s", 1.0)
    granted = await grant(idle)
    async with websockets.connect(ws_url(idle), subprotocols=ws_subprotocols(granted["token"])) as ws:
        assert (await next_text(ws))["type"] == "session"
        closing = await next_text(ws)
        while closing["type"] != "session":
            closing = await next_text(ws)
        assert closing["state"] == "closed" and "time limit" in closing["notice"]
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 60)
    assert ws.close_code == 1000
