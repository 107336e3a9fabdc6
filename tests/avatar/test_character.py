from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from avatar import AvatarSettings, AvatarState, Expression, OfflineClock, create_renderer
from avatar.character.renderer import CharacterRenderer, character_assets, head_patch
from avatar.clock import FrameClock
from avatar.errors import AudioFormatError, AvatarError
from avatar.factory import warm_renderer
from avatar.metrics import frame_energy, mouth_opening
from avatar.visemes import SHAPES
from tests.avatar.avatar_fakes import FakeTime
from tests.avatar.conftest import Speech

pytestmark = pytest.mark.asyncio


def _renderer(sample_rate: int = 22050, seed: int = 3) -> CharacterRenderer:
    return CharacterRenderer(seed=seed, sample_rate=sample_rate, clock=OfflineClock(25))


def _face(img: np.ndarray) -> np.ndarray:
    return img[120:330, 160:352].astype(np.int16)


async def test_factory_builds_character_by_default() -> None:
    r = create_renderer(AvatarSettings())
    assert isinstance(r, CharacterRenderer) and r.size == 512 and r.fps == 25
    await r.aclose()


async def test_frames_are_rgb_paced_by_timestamps(fake_time: FakeTime) -> None:
    clock = FrameClock(25, time_fn=fake_time.time, sleep_fn=fake_time.sleep)
    r = CharacterRenderer(seed=1, clock=clock)
    frames = []
    async for f in r.frames():
        assert f.image.shape == (512, 512, 3) and f.image.dtype == np.uint8
        frames.append((f.index, f.pts))
        if len(frames) == 10:
            break
    await r.aclose()
    assert [i for i, _ in frames] == list(range(10))
    assert frames[-1][1] == pytest.approx(0.36)
    assert fake_time.now - 100.0 == pytest.approx(0.36)
    assert all(s == pytest.approx(0.04) for s in fake_time.sleeps)


async def test_spoken_sentence_moves_the_mouth_with_the_phonemes(speech: Speech, tmp_path: Path) -> None:
    r = _renderer(speech.sample_rate)
    for pcm, timeline in speech.chunks:
        r.push_audio(pcm, timeline, sample_rate=speech.sample_rate)
    r.end_of_speech()
    opening, expected, audio, sheet = [], [], [], []
    n = 0
    while True:
        f = await r.next_frame(n)
        if not f.speaking:
            break
        opening.append(mouth_opening(f.image, r.mouth_box))
        t = (n + 0.5) / r.fps
        expected.append(SHAPES[speech.timeline.viseme_at(t)].open)
        audio.append(f.audio.copy())
        if n % 6 == 0 and len(sheet) < 24:
            sheet.append(cv2.resize(f.image[150:340, 160:352], (144, 142)))
        n += 1
    assert n == pytest.approx(speech.pcm.size / speech.sample_rate * 25, abs=2)
    assert np.array_equal(np.concatenate(audio)[: speech.pcm.size], speech.pcm)
    corr_visemes = np.corrcoef(opening, expected)[0, 1]
    corr_energy = np.corrcoef(opening, frame_energy(audio))[0, 1]
    assert corr_visemes > 0.6, corr_visemes
    assert corr_energy > 0.4, corr_energy
    assert max(opening) > 5 * (min(opening) + 1e-3)
    rows = [np.hstack(sheet[i : i + 6]) for i in range(0, len(sheet) - len(sheet) % 6, 6)]
    path = tmp_path / "contact_sheet.png"
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    assert path.stat().st_size > 10_000
    assert r.state is AvatarState.SPEAKING or r.state is AvatarState.IDLE
    await r.next_frame(n + 1)
    assert r.state is AvatarState.IDLE
    await r.aclose()


async def test_mouth_follows_audio_when_no_timings_exist(speech: Speech) -> None:
    r = _renderer(speech.sample_rate)
    r.push_audio(speech.pcm.tobytes())
    r.end_of_speech()
    opening, audio = [], []
    n = 0
    while True:
        f = await r.next_frame(n)
        if not f.speaking:
            break
        opening.append(mouth_opening(f.image, r.mouth_box))
        audio.append(f.audio.copy())
        n += 1
    corr = np.corrcoef(opening, frame_energy(audio))[0, 1]
    assert corr > 0.6, corr
    assert max(opening) > 0.05
    await r.aclose()


async def test_clear_returns_to_idle_within_one_frame(speech: Speech) -> None:
    r = _renderer(speech.sample_rate)
    r.push_audio(speech.pcm)
    for n in range(20):
        f = await r.next_frame(n)
    assert f.speaking and r.state is AvatarState.SPEAKING
    r.clear()
    f = await r.next_frame(20)
    assert not f.speaking and f.state is AvatarState.IDLE
    assert f.mouth_open == 0.0 and f.audio.size == 0
    assert mouth_opening(f.image, r.mouth_box) < 0.03
    await r.aclose()


async def test_hold_pauses_speech_where_it_is_and_release_goes_on(speech: Speech) -> None:
    r = _renderer(speech.sample_rate)
    r.push_audio(speech.pcm, speech.timeline)
    r.end_of_speech()
    played: list[np.ndarray] = []
    for n in range(10):
        played.append((await r.next_frame(n)).audio.copy())
    at_hold = r.playback_position()
    r.hold()
    for n in range(10, 16):  # held: silent, mouth closed, still speaking, nothing consumed
        f = await r.next_frame(n)
        assert f.audio.size == 0 and f.mouth_open == 0.0 and not f.speaking
        assert f.state is AvatarState.SPEAKING
    assert mouth_opening(f.image, r.mouth_box) < 0.03
    assert r.playback_position() == at_hold and not at_hold.finished
    r.release()
    n = 16
    while not r.playback_position().finished:
        played.append((await r.next_frame(n)).audio.copy())
        n += 1
    # every sample was played once, in order: the hold lost and repeated nothing
    audio = np.concatenate(played)
    assert np.array_equal(audio[: speech.pcm.size], speech.pcm) and not audio[speech.pcm.size :].any()
    r.push_audio(speech.pcm)
    r.hold()
    r.clear()  # an interruption ends a hold as well
    r.push_audio(speech.pcm)
    assert (await r.next_frame(n)).audio.size > 0
    await r.aclose()


async def test_playback_position_after_clear(speech: Speech) -> None:
    r = _renderer(speech.sample_rate)
    r.push_audio(speech.pcm)
    for n in range(30):
        await r.next_frame(n)
    r.clear()
    pos = r.playback_position()
    assert pos.played_s == pytest.approx(30 * 882 / speech.sample_rate)
    assert pos.pushed_s == pytest.approx(speech.pcm.size / speech.sample_rate)
    assert pos.interrupted and pos.finished and 0 < pos.fraction < 1
    for n in range(30, 35):
        await r.next_frame(n)
    assert r.playback_position() == pos
    await r.aclose()


async def test_eyes_blink_at_natural_intervals() -> None:
    r = _renderer(seed=11)
    blinks, prev, eye_closed, eye_open = [], 0.0, None, None
    for n in range(25 * 20):
        f = await r.next_frame(n)
        if f.blink > 0.95 and prev <= 0.95:
            blinks.append(n / 25)
            eye_closed = f.image[195:230, 205:245].astype(np.int16).copy()
        if f.blink == 0.0 and eye_open is None and n > 5:
            eye_open = f.image[195:230, 205:245].astype(np.int16).copy()
        prev = f.blink
    gaps = np.diff(blinks)
    assert 3 <= len(blinks) <= 12, blinks
    assert gaps.min() >= 0.3 and len(set(np.round(gaps, 1))) > 2, "intervals vary"
    assert eye_closed is not None and eye_open is not None
    assert np.abs(eye_closed - eye_open).mean() > 5
    await r.aclose()


async def _settle(r: CharacterRenderer, start: int, frames: int = 25) -> np.ndarray:
    for n in range(start, start + frames):
        f = await r.next_frame(n)
    return _face(f.image)


async def test_states_and_expressions_look_different() -> None:
    r = _renderer(seed=5)
    idle = await _settle(r, 0)
    r.set_state(AvatarState.LISTENING)
    listening = await _settle(r, 100)
    r.set_state(AvatarState.THINKING)
    thinking = await _settle(r, 200)
    r.set_state(AvatarState.IDLE)
    r.set_expression(Expression.SMILE)
    smile = await _settle(r, 300)
    r.set_expression(Expression.CONCERN)
    concern = await _settle(r, 400)
    looks = {"idle": idle, "listening": listening, "thinking": thinking, "smile": smile, "concern": concern}
    names = list(looks)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.abs(looks[a] - looks[b]).mean() > 1.0, (a, b)
    await r.aclose()


async def test_contract_errors() -> None:
    r = _renderer()
    with pytest.raises(AudioFormatError):
        r.push_audio(np.zeros(100, np.int16), sample_rate=16000)
    with pytest.raises(AvatarError):
        r.set_state(AvatarState.CLOSED)
    await r.aclose()
    assert r.state is AvatarState.CLOSED
    with pytest.raises(AvatarError):
        r.push_audio(np.zeros(100, np.int16))
    with pytest.raises(AvatarError):
        r.set_state(AvatarState.LISTENING)
    assert [f async for f in r.frames()] == []


async def test_a_resting_avatar_sends_every_other_frame_and_speech_every_frame(speech: Speech) -> None:
    r = CharacterRenderer(seed=1, sample_rate=speech.sample_rate, clock=OfflineClock(25), idle_frame_stride=2)
    short = speech.pcm[: 12 * speech.sample_rate // 25]  # 12 frames of speech
    seen: list[tuple[int, bool]] = []
    async for frame in r.frames():
        seen.append((frame.index, frame.speaking))
        if frame.index == 8:
            r.push_audio(short)
            r.end_of_speech()
        if frame.index >= 40:
            break
    indices = [i for i, _ in seen]
    spoken = [i for i, speaking in seen if speaking]
    assert indices[:5] == [0, 2, 4, 6, 8]  # resting: 12.5 fps
    assert spoken == list(range(9, 21))  # speech from the next frame on, at 25 fps, none skipped
    after = indices[indices.index(20) + 1 :]
    assert after[0] == 21  # the first silent frame is drawn at once (it ends the utterance) ...
    assert all(i % 2 == 0 for i in after[1:])  # ... then resting again
    await r.aclose()


async def test_warming_builds_the_layers_every_session_shares() -> None:
    warm_renderer(AvatarSettings(size=256))
    assets, patches = character_assets.cache_info(), head_patch.cache_info()
    r = create_renderer(AvatarSettings(size=256))
    assert character_assets.cache_info().misses == assets.misses  # nothing left to build
    assert head_patch.cache_info().misses == patches.misses
    await r.aclose()
