"""Token buckets, the websocket token subprotocol, and the largest legal websocket message."""

from __future__ import annotations

from server.config import RateRule
from server.limits.buckets import TokenBuckets
from server.limits.ws_size import CUSTOMER_AUDIO_MESSAGE_BYTES, WS_MAX_SIZE
from server.voice.transport.tokens import token_from_subprotocols, ws_subprotocols


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_says_how_long_to_wait() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(RateRule(rate=2.0, burst=3), clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == 0.5
    assert buckets.take("b") == 0.0  # another key has its own bucket
    clock.now += 0.5
    assert buckets.take("a") == 0.0
    clock.now += 100  # refills only up to the burst
    assert [buckets.take("a") for _ in range(4)][-1] > 0


def test_a_cost_is_taken_only_when_it_fits() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(RateRule(rate=1.0, burst=5), clock)
    assert buckets.take("s", 4.5) == 0.0
    assert buckets.take("s", 1.0) == 0.5
    assert buckets.take("s", 0.5) == 0.0


def test_the_token_is_offered_as_a_subprotocol() -> None:
    offered = ws_subprotocols("abc.def.ghi")
    assert offered == ["teller.v1", "teller.token.abc.def.ghi"]
    assert token_from_subprotocols(offered) == "abc.def.ghi"
    assert token_from_subprotocols(["teller.token.abc"]) is None  # not our protocol
    assert token_from_subprotocols(["teller.v1"]) is None
    assert token_from_subprotocols([*offered, "teller.token.other"]) is None  # two tokens


def test_uvicorn_takes_the_operators_recorded_line_and_no_more() -> None:
    assert WS_MAX_SIZE == 2 + 512 + 30 * 16_000 * 2
    assert CUSTOMER_AUDIO_MESSAGE_BYTES < WS_MAX_SIZE < 16 * 2**20
