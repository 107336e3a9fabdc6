"""TURN REST credentials and the ICE servers a session gets (server/voice/transport/ice.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from server.config import TurnSettings, load_settings
from server.limits.guard import CustomerLimits
from server.voice.transport import routes
from server.voice.transport.ice import IceServers, turn_rest_credential
from server.voice.transport.tokens import SessionTokens

SECRET = "north-wind-shared-secret"
SESSION = "0123456789abcdef0123456789abcdef"
NOW = 1_700_000_000.75
URLS = ["turn:turn.bank.example:3478?transport=udp", "turn:turn.bank.example:3478?transport=tcp"]


def turn(**values: object) -> TurnSettings:
    return TurnSettings.model_validate({"urls": URLS, "secret": SECRET, "ttl_s": 3600} | values)


def test_credential_matches_an_independent_hmac_sha1() -> None:
    minted = turn_rest_credential(SECRET, SESSION, 1_700_003_600)
    assert minted.username == f"1700003600:{SESSION}"
    # printf '%s' "$username" | openssl dgst -sha1 -hmac "$secret" -binary | base64
    assert minted.credential == "wNpIZ1dIlplQB5DjZr2df0f57/s="
    expected = hmac.new(SECRET.encode(), minted.username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(minted.credential) == expected
    assert minted.credential not in repr(minted)


def test_credentials_expire_after_the_ttl_and_differ_per_session() -> None:
    ice = IceServers(turn(ttl_s=600), [], clock=lambda: NOW)
    first, second = ice.credential("session-a"), ice.credential("session-b")
    assert first is not None and second is not None
    assert first.expires_at == int(NOW) + 600
    expiry, session = first.username.split(":", 1)
    assert (int(expiry), session) == (first.expires_at, "session-a")
    assert first.credential != second.credential
    later = IceServers(turn(ttl_s=600), [], clock=lambda: NOW + 60).credential("session-a")
    assert later is not None and later.expires_at == first.expires_at + 60
    assert later.credential != first.credential


def test_a_session_gets_stun_and_turn_with_its_credentials() -> None:
    ice = IceServers(turn(), ["stun:stun.bank.example:3478"], clock=lambda: NOW)
    stun, relay = (entry.model_dump() for entry in ice.for_client(SESSION))
    assert stun == {"urls": ["stun:stun.bank.example:3478"]}  # no null username/credential
    assert relay["urls"] == URLS
    assert relay["username"] == f"{int(NOW) + 3600}:{SESSION}"
    assert relay["credential"] == turn_rest_credential(SECRET, SESSION, int(NOW) + 3600).credential
    peer = ice.for_peer(SESSION)  # the worker's own peer connection uses the same servers
    assert [(p.urls, p.username, p.credential) for p in peer] == [
        (["stun:stun.bank.example:3478"], None, None),
        (URLS, relay["username"], relay["credential"]),
    ]


def test_no_secret_no_turn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        ice = IceServers(turn(secret=None), ["stun:stun.bank.example:3478"])
    assert "TELLER_TURN__SECRET" in caplog.text
    assert not ice.relays and ice.credential(SESSION) is None
    assert [e.model_dump() for e in ice.for_client(SESSION)] == [{"urls": ["stun:stun.bank.example:3478"]}]
    assert IceServers(TurnSettings(), []).for_client(SESSION) == []
    assert IceServers(TurnSettings(), []).for_peer(SESSION) == []


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert load_settings().turn.urls == []  # configs/default.yaml: no TURN
    monkeypatch.setenv("TELLER_TURN__URLS", '["turn:203.0.113.10:3478?transport=udp"]')
    monkeypatch.setenv("TELLER_TURN__SECRET", SECRET)
    monkeypatch.setenv("TELLER_TURN__TTL_S", "900")
    settings = load_settings()
    assert settings.turn.urls == ["turn:203.0.113.10:3478?transport=udp"]
    assert settings.turn.secret is not None and settings.turn.secret.get_secret_value() == SECRET
    assert settings.turn.ttl_s == 900
    assert SECRET not in repr(settings)
    with pytest.raises(ValidationError, match="not a TURN URL"):
        TurnSettings(urls=["stun:stun.example:3478"])
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("turn:\n  secret: oops\n")
    monkeypatch.setenv("TELLER_CONFIG", str(overlay))
    with pytest.raises(ValueError, match="TELLER_TURN__SECRET"):
        load_settings()


def _grant(turn_settings: TurnSettings) -> dict[str, Any]:
    app = FastAPI()
    app.include_router(routes.router)
    settings = load_settings()
    voice = SimpleNamespace(
        settings=settings,
        tokens=SessionTokens("token-secret", 60),
        ice=IceServers(turn_settings, []),
        limits=CustomerLimits.from_settings(settings),
    )
    app.state.services = SimpleNamespace(voice=voice, cluster=None)  # one process, no dispatch
    with TestClient(app) as client:
        response = client.get("/api/v1/session")
    assert response.status_code == 200, response.text
    grant: dict[str, Any] = response.json()
    return grant


def test_the_session_grant_carries_the_ice_servers() -> None:
    grant = _grant(turn())
    [relay] = grant["ice_servers"]
    assert relay["urls"] == URLS
    expiry, session = relay["username"].split(":", 1)
    assert session == grant["session_id"]
    minted = turn_rest_credential(SECRET, session, int(expiry))
    assert relay["credential"] == minted.credential
    assert _grant(TurnSettings())["ice_servers"] == []
