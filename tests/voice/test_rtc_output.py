"""PacedAudioTrack: 20 ms frames, a write released once at most the look-ahead is queued;
hold, release and clear at barge-in."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport

from server.voice.transport.rtc_output import FRAME_MS, PacedAudioTrack, output_track

RATE = 24_000
PIECE = RATE // 100 * 2  # bytes of 10 ms PCM16


def _chunk(value: int, ms: int = 20) -> bytes:
    return np.full(RATE * ms // 1000, value, np.int16).tobytes()


def _track(lookahead_ms: int = 20) -> PacedAudioTrack:
    track = PacedAudioTrack(RATE)
    track.lookahead_ms = lookahead_ms
    return track


async def test_writes_are_released_as_the_queue_drains() -> None:
    track = _track()
    first = track.add_audio_bytes(_chunk(1))
    second = track.add_audio_bytes(_chunk(2))
    await asyncio.sleep(0)
    assert first.done()  # only LOOKAHEAD_MS queued at its end: pipecat may write on
    assert not second.done()  # 40 ms queued: it waits until aiortc takes audio
    frame = await track.recv()
    samples = frame.to_ndarray()[0]
    assert len(samples) == RATE * FRAME_MS // 1000
    assert set(samples.tolist()) == {1}
    assert second.done()
    frame = await track.recv()
    assert set(frame.to_ndarray()[0].tolist()) == {2}
    assert frame.pts == RATE * FRAME_MS // 1000


async def test_an_empty_queue_sends_silence_and_half_empty_is_padded() -> None:
    track = PacedAudioTrack(RATE)
    assert set((await track.recv()).to_ndarray()[0].tolist()) == {0}
    track.add_audio_bytes(_chunk(5, ms=10))
    samples = (await track.recv()).to_ndarray()[0]
    assert samples[: RATE // 100].tolist() == [5] * (RATE // 100)
    assert set(samples[RATE // 100 :].tolist()) == {0}


async def test_queue_never_holds_more_than_lookahead_plus_a_write() -> None:
    track = _track(40)
    writes = [track.add_audio_bytes(_chunk(n)) for n in range(1, 6)]
    assert [w.done() for w in writes] == [True, True, False, False, False]


async def test_without_lookahead_a_write_waits_until_all_of_it_was_taken() -> None:
    track = _track(0)
    first = track.add_audio_bytes(_chunk(1, ms=40))
    await track.recv()
    assert not first.done()
    await track.recv()
    assert first.done()


def test_rejects_audio_that_is_not_whole_10ms_pieces() -> None:
    track = PacedAudioTrack(RATE)
    with pytest.raises(ValueError, match="10ms"):
        asyncio.run(_add(track, b"\x00" * (PIECE + 2)))


async def _add(track: PacedAudioTrack, audio: bytes) -> None:
    track.add_audio_bytes(audio)


async def test_a_hold_sends_silence_and_a_release_goes_on_with_the_same_audio() -> None:
    track = _track(0)
    write = track.add_audio_bytes(_chunk(1) + _chunk(2))
    track.hold()
    assert set((await track.recv()).to_ndarray()[0].tolist()) == {0}
    assert track.queued_ms == 40 and not write.done()
    track.release()
    assert set((await track.recv()).to_ndarray()[0].tolist()) == {1}
    assert set((await track.recv()).to_ndarray()[0].tolist()) == {2}
    assert write.done()


async def test_clear_drops_the_queued_audio_and_frees_every_write() -> None:
    track = _track(0)
    writes = [track.add_audio_bytes(_chunk(n, ms=100)) for n in (1, 2)]
    track.hold()
    track.clear()
    assert track.queued_ms == 0 and all(w.done() for w in writes)
    assert set((await track.recv()).to_ndarray()[0].tolist()) == {0}
    track.add_audio_bytes(_chunk(3))  # the next reply plays at once: the clear also ended the hold
    assert set((await track.recv()).to_ndarray()[0].tolist()) == {3}


def test_a_websocket_transport_has_no_track_to_hold() -> None:
    transport = FastAPIWebsocketTransport(websocket=None, params=FastAPIWebsocketParams())  # type: ignore[arg-type]
    assert output_track(transport)() is None
