"""Voice-to-voice latency over real WebRTC on loopback, with a per-stage breakdown.

Serves the app in-process (uvicorn, live knowledge index in var/index, a
throw-away store), then drives sessions with aiortc probes in a separate process
(bench/voice_client.py: a customer's browser does not share the server's CPU
time slices or GIL): each session asks N questions synthesised by Piper, cut to
the speech (first and last sample loud). v2v = end of the customer's speech in
the sent audio → first reply audio sample received. Stage keys are medians:

    vad_stop_ms    end of speech → VAD decides the turn ended
    asr_ms         VAD stop → final transcript (started at the pause, see asr_early_rate)
    brain_ms       transcript → decision and reply text
    tts_first_ms   reply text → first synthesised audio
    first_video_ms first synthesised audio → first avatar frame carrying it
    out_queue_ms   that frame → the transport writes its first loud chunk (pipecat output queue)
    track_queue_ms → aiortc pulls it from the WebRTC track to encode and send
    network_ms     → the probe receives it (RTP, jitter buffer, decoding)
    asr_early_rate share of turns whose transcript was started when the customer paused
    loop_lag_p95_ms how late a 10 ms timer fires on the server's event loop (load indicator)

Barge-in (one session, 3 trials): the customer speaks 1 s into a reply.
barge_in_ms_p50 / _max = start of the customer's speech in the sent audio → last
reply audio received; barge_in_detect_ms_p50 = → the server's interruption.

max_sessions: the most concurrent sessions (tried 1, 2, 3, ...) whose v2v p95 ≤ 2000 ms.
Prints one JSON object as the last line.

Run: .venv/bin/python bench/voice_latency.py [--questions 6] [--max-concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import voice_output_probe
from bench.harness.serve import serve
from server.speech_models import resolve_piper_voice
from server.voice.session import VoiceSession
from server.voice.speech.piper import load_piper_voice
from server.voice.transport.runtime import VoiceRuntime

QUESTIONS = [
    "My card still has not arrived. What should I do?",
    "How much does it cost to top up with a card?",
    "I forgot my passcode and I can't log in.",
    "Why was I charged for taking cash out at the ATM?",
    "How long does a transfer to another bank take?",
    "Can I get a virtual card?",
    "What exchange rate do you use?",
    "How do I change my PIN?",
]
INTERJECTION = "Sorry, actually, how do I change my PIN?"


SPEECH_LEVEL = 300  # int16 peak: quieter samples at either end of an utterance are not speech


def _speech(voice: Any, text: str) -> np.ndarray[Any, np.dtype[np.int16]]:
    """Piper speaking ``text`` at 48 kHz, cut to the speech: its first and last sample are speech.

    So the probe's "utterance sent" times are the true start and end of the customer's speech.
    """
    pcm = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text))
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    resampled = np.clip(soxr.resample(samples, voice.config.sample_rate, 48_000), -32768, 32767)
    loud = np.flatnonzero(np.abs(resampled) > SPEECH_LEVEL)
    return resampled[loud[0] : loud[-1] + 1].astype(np.int16)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)


class Sessions:
    """The server side of the sessions a client process opens, kept after they end."""

    def __init__(self, voice_rt: VoiceRuntime, on_event: Callable[[], object] = lambda: None) -> None:
        self._rt = voice_rt
        self.on_event = on_event  # called for every line the client writes
        self.by_client: dict[int, VoiceSession] = {}

    def seen(self, k: int, session_id: str) -> None:
        session = self._rt.manager.get(session_id)
        if session is None:
            raise RuntimeError(f"session {session_id} is not live on the server")
        self.by_client[k] = session


async def _all_closed(voice_rt: VoiceRuntime, within_s: float = 30.0) -> None:
    """Wait until the server has ended every session (a round never shares the CPU with the last)."""
    async with asyncio.timeout(within_s):
        for session in voice_rt.manager.sessions():
            await voice_rt.manager.wait_closed(session.session_id)


async def _client(
    base: str, sessions: Sessions, mode: str, files: list[Path], *, n: int, limit_s: float
) -> list[dict[str, Any]]:
    """Run bench/voice_client.py with ``n`` sessions; its milestone lines, or an error."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("voice_client.py")),
        base,
        mode,
        *map(str, files),
        "--sessions",
        str(n),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    lines: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(limit_s):
            async for raw in proc.stdout:
                line = json.loads(raw)
                sessions.on_event()
                if line["event"] == "session":
                    sessions.seen(line["k"], line["session_id"])
                elif line["event"] == "error":
                    raise RuntimeError(f"client: {line['error']}")
                elif line["event"] == "done":
                    break
                else:
                    lines.append(line)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    return lines


def _stages(row: dict[str, Any], session: VoiceSession) -> dict[str, float]:
    end, onset = row["end"], row["onset"]
    marks = session.marks
    vad = marks.after("vad_stop", end) or end
    asr = marks.after("asr_done", vad) or vad
    brain = marks.after("brain_done", asr) or asr
    tts = marks.after("tts_audio", brain) or brain
    frame = marks.after("first_reply_frame", tts) or tts
    writes, sends = voice_output_probe.output_onsets(session.worker)
    write = next((t for t in writes if t >= frame), frame)
    send = next((t for t in sends if t >= write), write)
    return {
        "v2v_ms": (onset - end) * 1000,
        "vad_stop_ms": (vad - end) * 1000,
        "asr_ms": (asr - vad) * 1000,
        "brain_ms": (brain - asr) * 1000,
        "tts_first_ms": (tts - brain) * 1000,
        "first_video_ms": (frame - tts) * 1000,
        "out_queue_ms": (write - frame) * 1000,
        "track_queue_ms": (send - write) * 1000,
        "network_ms": (onset - send) * 1000,
    }


async def _round(
    base: str,
    voice_rt: VoiceRuntime,
    n: int,
    files: list[Path],
    *,
    limit_s: float,
    on_event: Callable[[], object] = lambda: None,
) -> list[dict[str, float]]:
    await _all_closed(voice_rt)
    sessions = Sessions(voice_rt, on_event)
    lines = await _client(base, sessions, "turns", files, n=n, limit_s=limit_s)
    rows = [_stages(line, sessions.by_client[line["k"]]) for line in lines]
    early = sum(s.stt.early_hits for s in sessions.by_client.values())
    for row in rows:
        row["asr_early_rate"] = early / len(rows)
    return rows


async def _barge_in(base: str, voice_rt: VoiceRuntime, interjection: Path) -> list[dict[str, float]]:
    """Speech start → last reply audio received, and → the server's interruption."""
    await _all_closed(voice_rt)
    sessions = Sessions(voice_rt)
    lines = await _client(base, sessions, "barge", [interjection], n=1, limit_s=300)
    rows = []
    for line in lines:
        interrupt = sessions.by_client[line["k"]].marks.after("interrupt", line["onset"])
        rows.append(
            {
                "barge_in_ms": (line["end"] - line["start"]) * 1000,
                "barge_in_detect_ms": ((interrupt or line["end"]) - line["start"]) * 1000,
            }
        )
    return rows


async def _measure(
    base: str, voice_rt: VoiceRuntime, files: list[Path], max_concurrency: int, interjection: Path
) -> dict[str, Any]:
    """All rounds on one event loop; a round that fails or overruns its time counts as failed."""
    lag = voice_output_probe.LoopLag()  # starts once a session's track has shown the server's loop
    try:
        single = await _round(base, voice_rt, 1, files, limit_s=300, on_event=lag.start)
    finally:
        lag.stop()
    v2v = [r["v2v_ms"] for r in single]
    result: dict[str, Any] = {
        "questions": len(single),
        "v2v_p50_ms": _p(v2v, 0.5),
        "v2v_p95_ms": _p(v2v, 0.95),
        **{k: round(statistics.median(r[k] for r in single), 1) for k in single[0] if k != "v2v_ms"},
        "loop_lag_p95_ms": lag.percentile_ms(0.95),
    }
    barge = await _barge_in(base, voice_rt, interjection)
    for key in barge[0]:
        result[f"{key}_p50"] = round(statistics.median(r[key] for r in barge), 1)
    result["barge_in_ms_max"] = round(max(r["barge_in_ms"] for r in barge), 1)
    print(json.dumps(result), file=sys.stderr, flush=True)
    max_ok = 1 if result["v2v_p95_ms"] <= 2000 else 0
    per_concurrency: dict[int, float | None] = {1: result["v2v_p95_ms"]}
    for n in range(2, max_concurrency + 1):
        try:
            rows = await _round(base, voice_rt, n, files[:3], limit_s=300)
        except (TimeoutError, RuntimeError) as exc:
            print(f"{n} sessions: {exc}", file=sys.stderr, flush=True)
            per_concurrency[n] = None
            break
        p95 = _p([r["v2v_ms"] for r in rows], 0.95)
        per_concurrency[n] = p95
        if p95 > 2000:
            break
        max_ok = n
    result["max_sessions"] = max_ok
    result["v2v_p95_ms_by_sessions"] = per_concurrency
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--max-concurrency", type=int, default=3)
    parser.add_argument(
        "--cold-speech", action="store_true", help="no disk speech cache: every first answer is synthesised"
    )
    args = parser.parse_args()
    voice_output_probe.install()
    cache = {"speech_cache_dir": None} if args.cold_speech else {}
    with tempfile.TemporaryDirectory(prefix="teller-voice-bench-") as tmp, serve(**cache) as live:
        voice = load_piper_voice(resolve_piper_voice(live.settings.voice.piper_voice))
        files = []
        for i, text in enumerate([*QUESTIONS[: args.questions], INTERJECTION]):
            files.append(Path(tmp) / f"utterance_{i}.npy")
            np.save(files[-1], _speech(voice, text))
        voice_rt: VoiceRuntime = live.app.state.services.voice
        result = asyncio.run(_measure(live.base_url, voice_rt, files[:-1], args.max_concurrency, files[-1]))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
