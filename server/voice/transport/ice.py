"""The ICE servers of a session: STUN/TURN URLs from ``voice.ice_servers`` and coturn with
per-session credentials (``turn.*``).

Credentials follow coturn's TURN REST scheme (``use-auth-secret``): the username is
``"<unix expiry time>:<session id>"`` and the credential is
``base64(HMAC-SHA1(turn.secret, username))``; coturn, which knows the same secret, accepts
them until the expiry time. Credentials are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCIceServer
from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

from server.config import TurnSettings

log = logging.getLogger(__name__)


class IceServerEntry(BaseModel):
    """One entry of a browser's ``RTCConfiguration.iceServers`` (no null fields in JSON)."""

    urls: list[str]
    username: str | None = None
    credential: str | None = Field(default=None, repr=False)

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if value is not None}


@dataclass(frozen=True)
class TurnCredential:
    """TURN REST credentials for one session, valid until ``expires_at`` (unix time)."""

    username: str
    credential: str = field(repr=False)
    expires_at: int


def turn_rest_credential(secret: str, session_id: str, expires_at: int) -> TurnCredential:
    """coturn's TURN REST credentials for ``session_id`` that expire at ``expires_at``."""
    username = f"{expires_at}:{session_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return TurnCredential(username, base64.b64encode(digest).decode("ascii"), expires_at)


class IceServers:
    """Mints a session's TURN credentials and lists its ICE servers, for the customer and the worker."""

    def __init__(
        self, turn: TurnSettings, stun_urls: list[str], *, clock: Callable[[], float] = time.time
    ) -> None:
        self._urls = list(turn.urls)
        self._secret = turn.secret.get_secret_value() if turn.secret else None
        self._ttl_s = turn.ttl_s
        self._stun_urls = list(stun_urls)
        self._clock = clock
        if self._urls and not self._secret:
            log.warning("turn.urls is set but TELLER_TURN__SECRET is not: no TURN servers are handed out")

    @property
    def relays(self) -> bool:
        """Whether sessions get TURN servers (URLs and a secret are configured)."""
        return bool(self._urls and self._secret)

    def credential(self, session_id: str) -> TurnCredential | None:
        """Fresh credentials for ``session_id``, or None without TURN."""
        if not self._secret or not self._urls:
            return None
        return turn_rest_credential(self._secret, session_id, int(self._clock()) + self._ttl_s)

    def for_client(self, session_id: str) -> list[IceServerEntry]:
        """What ``GET /api/v1/session`` hands the browser, kiosk or probe."""
        servers = [IceServerEntry(urls=self._stun_urls)] if self._stun_urls else []
        minted = self.credential(session_id)
        if minted is not None:
            servers.append(
                IceServerEntry(urls=self._urls, username=minted.username, credential=minted.credential)
            )
        return servers

    def for_peer(self, session_id: str) -> list[RTCIceServer]:
        """The same servers for the worker's own peer connection (aiortc), so it can relay too."""
        return [
            RTCIceServer(urls=entry.urls, username=entry.username, credential=entry.credential)
            for entry in self.for_client(session_id)
        ]
