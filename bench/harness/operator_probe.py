"""Scripted clients for the takeover path: a customer on the websocket transport and an
operator console. Used by the integration tests and ``bench/takeover.py``.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import numpy as np
import websockets
from websockets.asyncio.client import ClientConnection

from server.voice.transport.tokens import ws_subprotocols

AUDIO_TAG = b"A"
SPEECH_RMS = 200.0  # PCM16 RMS above this is speech, below it the avatar's silence


def _ws_base(base_url: str) -> str:
    return base_url.replace("http://", "ws://").replace("https://", "wss://")


def _unverified() -> ssl.SSLContext:
    """TLS without certificate checks: the local cluster's self-signed nginx."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


T = TypeVar("T")


@dataclass
class Inbox:
    """What a client received, stamped with ``time.monotonic``; ``until`` waits for a match."""

    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    speech_frames: list[float] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add_event(self, event: dict[str, Any]) -> None:
        self.events.append((time.monotonic(), event))
        self._changed.set()

    def add_speech(self) -> None:
        self.speech_frames.append(time.monotonic())
        self._changed.set()

    async def until(self, found: Callable[[], T | None], within_s: float) -> T:
        deadline = time.monotonic() + within_s
        while (value := found()) is None:
            self._changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(self._missed())
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                raise TimeoutError(self._missed()) from None
        return value

    def _missed(self) -> str:
        last = [e for _, e in self.events[-4:]]
        return f"nothing matching arrived in time; the last events were {last}"

    async def event(
        self, match: Callable[[dict[str, Any]], bool], within_s: float, since: float = 0.0
    ) -> dict[str, Any]:
        return await self.until(
            lambda: next((e for t, e in self.events if t >= since and match(e)), None), within_s
        )


class _SocketClient:
    """One websocket and the task that reads it; closed and awaited on exit."""

    def __init__(self, verify: bool = True) -> None:
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._verify = verify  # False: accept a self-signed certificate (wss:// only)

    @property
    def closed(self) -> bool:
        """The socket has ended (the server closed it, or it broke)."""
        return self._reader is not None and self._reader.done()

    async def _open(self, url: str, **options: Any) -> ClientConnection:
        if url.startswith("wss://") and not self._verify:
            options["ssl"] = _unverified()
        # No keep-alive pings: a loaded test machine can stall either loop for longer than one.
        # A server's first customer socket is accepted once the voice models are loaded: minutes
        # on a loaded machine, so the handshake may take that long.
        self._ws = await websockets.connect(
            url, max_size=2**22, open_timeout=600, ping_interval=None, **options
        )
        self._reader = asyncio.create_task(self._read(self._ws), name=f"{type(self).__name__}-read")
        return self._ws

    async def _read(self, ws: ClientConnection) -> None:
        raise NotImplementedError

    async def __aexit__(self, *_exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


class CustomerProbe(_SocketClient):
    """A customer on the websocket transport: sends text or audio, records what comes back.

    It opens its socket under the grant's ``signalling_url`` (a cluster's ``/w/<worker>``);
    ``worker`` is the worker the grant named. When the socket ends, a ``_closed`` event is added.
    """

    def __init__(self, base_url: str, *, verify: bool = True) -> None:
        super().__init__(verify)
        self.base_url = base_url
        self.session_id = ""
        self.worker: str | None = None
        self.heard = Inbox()

    async def __aenter__(self) -> CustomerProbe:
        async with httpx.AsyncClient(
            base_url=self.base_url, trust_env=False, timeout=60, verify=self._verify
        ) as http:
            grant = (await http.get("/api/v1/session")).raise_for_status().json()
        self.session_id = grant["session_id"]
        self.worker = grant.get("worker")
        signalling = grant.get("signalling_url") or ""
        # the token goes as a subprotocol, never in the URL
        await self._open(
            f"{_ws_base(self.base_url)}{signalling}/api/v1/ws", subprotocols=ws_subprotocols(grant["token"])
        )
        try:
            await self.heard.event(lambda e: e["type"] in ("session", "_closed"), 30)
            if self.closed:
                raise ConnectionError(f"the session socket closed at once: {self.heard.events[-1][1]}")
        except BaseException:
            await self.__aexit__()  # no reader task left behind
            raise
        return self

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    if message[:1] == AUDIO_TAG and len(message) > 1:
                        pcm = np.frombuffer(message[1 : 1 + (len(message) - 1) // 2 * 2], np.int16)
                        if float(np.sqrt(np.mean(pcm.astype(np.float32) ** 2))) > SPEECH_RMS:
                            self.heard.add_speech()
                else:
                    self.heard.add_event(json.loads(message))
        finally:
            self.heard.add_event({"type": "_closed", "code": ws.close_code, "reason": ws.close_reason})

    async def send(self, message: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send(json.dumps(message))

    async def say(self, text: str) -> None:
        await self.send({"type": "text", "text": text})

    async def send_audio(self, samples: np.ndarray[Any, np.dtype[np.int16]], rate_hz: int = 16_000) -> None:
        """Stream PCM16 mono paced like a microphone (20 ms frames)."""
        assert self._ws is not None
        step = rate_hz // 50
        start = time.monotonic()
        for n, offset in enumerate(range(0, len(samples), step)):
            await self._ws.send(samples[offset : offset + step].tobytes())
            delay = start + (n + 1) * 0.02 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    def events(self, kind: str, since: float = 0.0) -> list[dict[str, Any]]:
        return [e for t, e in self.heard.events if e["type"] == kind and t >= since]

    async def wait_speech(self, since: float, within_s: float) -> float:
        """The time of the first speech frame received after ``since``."""
        return await self.heard.until(
            lambda: next((t for t in self.heard.speech_frames if t >= since), None), within_s
        )


async def staff_login(base_url: str, name: str, password: str, *, verify: bool = True) -> httpx.Cookies:
    """Log a staff user in through the real login form; return its cookies."""
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=60, verify=verify) as http:
        page = (await http.get("/login")).raise_for_status()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None, "the login form has no CSRF token"
        form = {"username": name, "password": password, "csrf_token": token.group(1), "next": "/operator"}
        response = await http.post("/login", data=form)
        if response.status_code != 303:
            raise PermissionError(f"login failed with HTTP {response.status_code}")
        return http.cookies


class ConsoleProbe(_SocketClient):
    """An operator console over the websocket: commands with ids, acks and events recorded."""

    def __init__(
        self, base_url: str, cookies: httpx.Cookies, *, origin: str | None = None, verify: bool = True
    ) -> None:
        super().__init__(verify)
        self.base_url = base_url
        self._cookies = cookies
        self._origin = origin or base_url
        self.inbox = Inbox()

    async def __aenter__(self) -> ConsoleProbe:
        cookie = "; ".join(f"{k}={v}" for k, v in self._cookies.items())
        await self._open(
            f"{_ws_base(self.base_url)}/api/v1/operator/ws",
            additional_headers={"Cookie": cookie},
            origin=self._origin,
        )
        return self

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                self.inbox.add_event(json.loads(message))
        finally:
            self.inbox.add_event({"type": "_closed", "code": ws.close_code, "reason": ws.close_reason})

    async def send(self, command: dict[str, Any]) -> str:
        assert self._ws is not None
        message = {"client_msg_id": uuid.uuid4().hex, **command}
        await self._ws.send(json.dumps(message))
        return str(message["client_msg_id"])

    async def command(self, command: dict[str, Any], within_s: float = 15.0) -> dict[str, Any]:
        """Send and wait for its ``ack`` or ``error``."""
        msg_id = await self.send(command)
        return await self.inbox.event(lambda e: e.get("client_msg_id") == msg_id, within_s)

    async def say_audio(
        self, session_id: str, samples: np.ndarray[Any, np.dtype[np.int16]], within_s: float = 60.0
    ) -> dict[str, Any]:
        """Send a recorded line (PCM16, 16 kHz) and wait for its ``ack`` or ``error``."""
        assert self._ws is not None
        msg_id = uuid.uuid4().hex
        header = json.dumps({"type": "say_audio", "client_msg_id": msg_id, "session_id": session_id}).encode()
        await self._ws.send(len(header).to_bytes(2, "big") + header + samples.astype(np.int16).tobytes())
        return await self.inbox.event(lambda e: e.get("client_msg_id") == msg_id, within_s)

    async def resend(self, message: dict[str, Any], within_s: float = 15.0) -> dict[str, Any]:
        assert self._ws is not None
        since = time.monotonic()
        await self._ws.send(json.dumps(message))
        return await self.inbox.event(
            lambda e: e.get("client_msg_id") == message["client_msg_id"], within_s, since
        )
