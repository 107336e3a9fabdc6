"""Dispatch over HTTP: two workers' apps (in process) on a real Redis registry pick the least
loaded worker, answer "busy" when every worker is full, and refuse tokens naming another worker."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.websockets import WebSocketDisconnect

from server.app import create_app
from server.cluster.identity import WorkerIdentity
from server.runtime import Runtime
from server.voice.manager import BUSY
from server.voice.transport.tokens import SessionTokens, TokenError, WrongWorker, ws_subprotocols
from tests.cluster.redis_server import RedisServer

pytestmark = pytest.mark.cluster

PREFIX = "dispatch-test:"
OFFER = {"sdp": "v=0 not a real offer", "type": "offer"}


def test_a_token_opens_only_the_worker_it_names() -> None:
    tokens = SessionTokens("dispatch-secret", 60)
    assert tokens.verify(tokens.issue("s1", "t-01"), "t-01") == "s1"
    assert tokens.verify(tokens.issue("s1")) == "s1"  # one process: no worker named, none expected
    with pytest.raises(WrongWorker, match="t-01"):
        tokens.verify(tokens.issue("s1", "t-01"), "t-00")
    with pytest.raises(WrongWorker):
        tokens.verify(tokens.issue("s1"), "t-00")  # a cluster worker wants its name in the token
    with pytest.raises(WrongWorker):
        tokens.verify(tokens.issue("s1", "t-01"))
    with pytest.raises(TokenError, match="not valid"):
        SessionTokens("another-secret", 60).verify(tokens.issue("s1", "t-01"), "t-01")


@pytest.fixture()
def workers(runtime: Runtime, redis_server: RedisServer) -> Iterator[tuple[TestClient, TestClient]]:
    """Workers t-00 and t-01 (one session each) on one runtime and one Redis."""
    settings = runtime.settings  # what the apps' services are built from
    settings.redis.url, settings.redis.key_prefix = redis_server.url, PREFIX
    settings.cluster.heartbeat_s, settings.cluster.ttl_s = 0.1, 5.0
    settings.voice.max_sessions = 1
    settings.secret_key = SecretStr("dispatch-test-secret-0123456789")
    apps = [create_app(settings, runtime, worker=WorkerIdentity("t", i, 0)) for i in (0, 1)]
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        wait_registered(redis_server.url, ["t-00", "t-01"])
        yield first, second


def wait_registered(url: str, workers: list[str]) -> None:
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 60
        while not all(client.exists(f"{PREFIX}cluster:worker:{w}") for w in workers):
            assert time.monotonic() < deadline, "the workers never heartbeat"
            time.sleep(0.05)
    finally:
        client.close()


def test_dispatch_spreads_sessions_and_says_busy_when_every_worker_is_full(
    workers: tuple[TestClient, TestClient],
) -> None:
    first, second = workers
    assert first.get("/healthz").json()["worker"] == "t-00"
    assert second.get("/healthz").json()["worker"] == "t-01"
    grants = [grant_from(first) for _ in range(2)]
    assert [(g["worker"], g["signalling_url"]) for g in grants] == [("t-00", "/w/t-00"), ("t-01", "/w/t-01")]
    busy = second.get("/api/v1/session")  # any worker dispatches: both are now spoken for
    assert busy.status_code == 503 and busy.json()["error"] == BUSY


def test_a_worker_refuses_a_token_naming_another_worker(workers: tuple[TestClient, TestClient]) -> None:
    first, _second = workers
    assert grant_from(first)["worker"] == "t-00"
    other = grant_from(first)
    assert other["worker"] == "t-01"
    refused = first.post("/api/v1/webrtc/offer", json={**OFFER, "token": other["token"]})
    assert refused.status_code == 409 and "t-01" in refused.json()["error"]
    patch = {"pc_id": "x", "token": other["token"], "candidates": []}
    assert first.patch("/api/v1/webrtc/offer", json=patch).status_code == 409
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        first.websocket_connect("/api/v1/ws", subprotocols=ws_subprotocols(str(other["token"]))),
    ):
        pass
    assert closed.value.code == 4409


def grant_from(client: TestClient) -> dict[str, object]:
    response = client.get("/api/v1/session")
    assert response.status_code == 200, response.text
    grant: dict[str, object] = response.json()
    return grant
