from __future__ import annotations

import numpy as np
import pytest

from avatar.audio_buffer import AudioFrameBuffer, as_pcm16
from avatar.clock import FrameClock
from avatar.errors import AudioFormatError, IllegalTransitionError
from avatar.metrics import peak_offsets_ms, speech_envelope
from avatar.settings import AvatarSettings
from avatar.states import AvatarState, StateMachine
from tests.avatar.avatar_fakes import FakeTime


@pytest.mark.parametrize(
    ("rate", "fps", "per_frame"),
    [
        (22050, 25, {882}),
        (16000, 25, {640}),
        (44100, 30, {1470}),
        (22050, 30, {735}),
        (24000, 7, {3428, 3429}),
    ],
)
def test_each_frame_carries_its_slice_without_drift(rate: int, fps: int, per_frame: set[int]) -> None:
    buf = AudioFrameBuffer(rate, fps)
    pcm = (np.arange(rate * 2) % 3000).astype(np.int16)
    buf.push(pcm)
    buf.end()
    out = np.zeros(buf.max_frame_samples, np.int16)
    got = []
    while buf.active:
        n = buf.take(out)
        got.append(out[:n].copy())
    sizes = {g.size for g in got}
    assert sizes <= per_frame
    joined = np.concatenate(got)
    assert np.array_equal(joined[: pcm.size], pcm) and not joined[pcm.size :].any()
    assert len(got) == -(-2 * fps // 1)


def test_clear_drops_unplayed_audio_and_freezes_position() -> None:
    buf = AudioFrameBuffer(16000, 25)
    buf.push(np.ones(16000, np.int16))
    out = np.zeros(640, np.int16)
    for _ in range(10):
        buf.take(out)
    dropped = buf.clear()
    pos = buf.position()
    assert dropped == 16000 - 6400
    assert pos.played_s == pytest.approx(0.4) and pos.pushed_s == pytest.approx(1.0)
    assert pos.interrupted and pos.finished and pos.fraction == pytest.approx(0.4)


def test_pcm_input_formats() -> None:
    assert as_pcm16(b"\x01\x00\xff\x7f").tolist() == [1, 32767]
    assert as_pcm16(np.array([0.5, -1.0], np.float32)).tolist() == [16383, -32767]
    with pytest.raises(AudioFormatError):
        as_pcm16(b"\x00")
    with pytest.raises(AudioFormatError):
        as_pcm16(np.zeros((2, 2), np.int16))


@pytest.mark.asyncio
async def test_frame_clock_paces_by_deadlines(fake_time: FakeTime) -> None:
    clock = FrameClock(25, time_fn=fake_time.time, sleep_fn=fake_time.sleep)
    await clock.wait_for(0)
    fake_time.now += 0.013  # rendering took 13 ms
    await clock.wait_for(1)
    assert fake_time.sleeps == [pytest.approx(0.027)]
    assert fake_time.now == pytest.approx(100.04)
    await clock.wait_for(2)
    assert fake_time.now == pytest.approx(100.08)


@pytest.mark.asyncio
async def test_frame_clock_reanchors_after_a_stall(fake_time: FakeTime) -> None:
    clock = FrameClock(25, max_lag_frames=5, time_fn=fake_time.time, sleep_fn=fake_time.sleep)
    await clock.wait_for(0)
    fake_time.now += 0.1  # 2.5 frames late: catch up without sleeping
    assert await clock.wait_for(1) == pytest.approx(0.06)
    fake_time.now += 1.0  # a long stall: re-anchor instead of bursting
    await clock.wait_for(2)
    assert clock.resyncs == 1
    await clock.wait_for(3)
    assert fake_time.sleeps[-1] == pytest.approx(0.04)


def test_state_machine_table() -> None:
    sm = StateMachine()
    assert sm.move(AvatarState.LISTENING)
    assert not sm.move(AvatarState.LISTENING)
    assert sm.move(AvatarState.THINKING) and sm.move(AvatarState.SPEAKING) and sm.move(AvatarState.IDLE)
    sm.move(AvatarState.CLOSED)
    with pytest.raises(IllegalTransitionError) as err:
        sm.move(AvatarState.IDLE)
    assert err.value.retryable is False
    with pytest.raises(IllegalTransitionError):
        sm.move(AvatarState.CLOSED)


def test_settings_validate_kind() -> None:
    assert AvatarSettings().kind == "character"
    with pytest.raises(ValueError, match="asset_path"):
        AvatarSettings(kind="photo")
    with pytest.raises(ValueError, match="neural_model_path"):
        AvatarSettings(kind="neural", asset_path="x")


def test_speech_envelope_does_not_drift_against_the_audio() -> None:
    sr = 22050  # 220.5 samples per 10 ms hop: rounding the hop would drift 23 ms per 10 s
    pcm = np.zeros(sr * 20, np.int16)
    burst = int(19.005 * sr)
    pcm[burst : burst + 200] = 20000
    env = speech_envelope(pcm, sr)
    assert env.size == 2000
    assert int(np.argmax(env)) == 1900
    offsets = peak_offsets_ms(np.array([0.0, 1.0, 0.0]), 25, speech_envelope(pcm[: sr // 10], sr), 100.0)
    assert offsets.size == 0, "no audio peak, nothing matched"
