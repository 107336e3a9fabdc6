"""End-of-turn strategies on real models and synthesised speech: how fast, how often wrong.

The product ends a customer's turn on silence (Silero VAD, ``stop_secs``); pipecat also
ships Smart Turn v3, a model that judges from the audio whether the customer has
finished. This benchmark measures both on the same audio, offline, with the models that
ship in the pipecat wheel (Silero VAD, smart-turn-v3.2-cpu) and the bundled Piper voice.

Speech: ``--questions`` held-back BANKING77 questions of 5-15 words (evenly spread over
the list), synthesised whole by Piper (with phoneme alignments), resampled to 16 kHz,
trimmed to the speech (first and last sample above ``SPEECH_LEVEL``), with white noise at
-60 dBFS over everything so silence is not digital zero. Each question gives:

- a complete turn: 0.6 s of silence, the question, up to 3.5 s of silence (3 s plus room
  for Smart Turn's 3 s silence fallback, which starts counting at its VAD stop; the trial
  stops early once every strategy has ended the turn);
- four paused turns: the question cut at the word boundary (a " " phoneme not after
  punctuation, so the prosody is mid-sentence) nearest the middle of its speech, at the
  quietest 10 ms inside that boundary, with 0.3, 0.6, 1.0 or 1.5 s of silence inserted.

All trials of a run are one continuous audio stream (a session's VAD runs all the time),
fed in 20 ms frames to one ``SileroVADAnalyzer`` per ``stop_secs`` (start_secs 0.15, as
the product) with ``await analyze_audio(frame)``, read as pipecat's ``VADController``
does: the turn ends on the frame where the state turns QUIET after SPEAKING. Smart Turn
(``LocalSmartTurnAnalyzerV3``, ``cpu_count=1``, ``SmartTurnParams(stop_secs=3.0)``) is
driven as pipecat's ``TurnAnalyzerUserTurnStopStrategy`` drives it (without waiting for
a transcript): every frame goes to ``append_audio(frame, user_speaking)``, the VAD with
stop_secs 0.2 sets ``user_speaking`` and on its stop calls ``analyze_end_of_turn()``;
COMPLETE ends the turn, INCOMPLETE waits for more speech (then the next VAD stop asks
again) or for the 3 s silence fallback in ``append_audio``. pipecat's smart-turn buffer
stamps frames with ``time.monotonic()``; here that clock is the audio position, so the
segment it sends to the model is the one it would send live.

Decision times are audio positions (the end of the frame that decides), never wall
clock; for Smart Turn each call's measured inference wall time on this CPU is added.
Per strategy:

    turn_end_ms_p50/_p95   complete turns: last speech sample → turn-end decision
    false_end_rate         share of turns with a turn end before the customer finished:
                           "none" = complete turns (natural pauses), "0.3".. = paused turns
    heard_false_end_rate   paused turns (all pause lengths pooled) with a false end the
                           customer hears: the silence after the decision outlasts the
                           ~800 ms reply latency, so the bot starts talking over the
                           customer's next words (shorter ones only cost a cancelled reply,
                           merged into the same turn by the conversation stage)
    cpu_ms_per_turn        complete turns: CPU time of the strategy's models (VAD, and
                           Smart Turn's inferences) from the trial's start to its decision

Smart Turn also reports how many complete turns only its 3 s fallback ended, and its
model calls per turn; ``smart_turn_infer_ms_p50/_p95`` are over all its calls.

``recommended`` (RULE): among the strategies that fit the latency budget
(turn_end_ms_p95 ≤ ``TURN_END_BUDGET_MS``: the customer hears an answer within 1 s of
finishing, and transcript, answer, first audio and network need ~600 ms of that), the one
least often heard cutting in, then the fastest; if none fits, the fastest p95. A false end
that is heard is cut short by the barge-in hold (server/voice/turn_vad.py): the avatar
stops within ~100 ms of the customer's next word, and the turns are merged.

Timings depend on load: ``load_1m`` is reported. Prints one JSON object as the last line.

Run: .venv/bin/python bench/turn_taking.py [--questions 40]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import numpy.typing as npt
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
from pipecat.audio.turn.smart_turn import base_smart_turn
from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams, VADState

from knowledge.demo.banking77 import read_banking77, split
from server.config import load_settings
from server.speech_models import resolve_piper_voice
from server.voice.speech.piper import load_piper_voice

Int16 = npt.NDArray[np.int16]
Float32 = npt.NDArray[np.float32]

SAMPLE_RATE = 16_000
FRAME_SAMPLES = 320  # 20 ms, as pipecat's transports deliver audio
SPEECH_LEVEL = 300  # int16 peak: quieter samples are not speech (as bench/voice_latency.py)
NOISE_DBFS = -60.0
LEAD_S = 0.6  # silence before each trial: VAD settles, Smart Turn's pre-speech buffer fills
TAIL_S = 3.5  # silence after a complete turn
MAX_DRAIN_S = 3.0
PAUSES_S = (0.3, 0.6, 1.0, 1.5)
STOP_SECS = (0.2, 0.3, 0.5, 0.8)
START_SECS = 0.15  # the product's VADParams(start_secs=0.15)
SMART_VAD_STOP_SECS = 0.2  # pipecat's usual VAD stop_secs with Smart Turn
SMART_STOP_SECS = 3.0  # Smart Turn's own silence fallback
SMART = "smart_turn_v3"
REPLY_LATENCY_S = 0.8  # turn end → first reply audio (ARCHITECTURE.md "Latency budget")
# The product answers within 1 s of the end of speech (p50; p95 ≤ 1.4 s): transcript, answer,
# first audio and the network take ~600 ms of it, so the turn end may take ~400 ms.
TURN_END_BUDGET_MS = 400.0
RULE = (
    f"among strategies with turn_end_ms_p95 <= {TURN_END_BUDGET_MS:.0f} (the 1 s voice-to-voice budget),"
    " the lowest heard_false_end_rate, then the lowest turn_end_ms_p50; if none fits, the lowest p95"
)
PUNCTUATION = set(",.;:!?…—-\"'()")


# --- speech ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Utterance:
    """One question at 16 kHz, trimmed to its speech, with a mid-sentence word boundary."""

    text: str
    speech: Float32
    cut: int  # sample index of the word boundary used for the paused turns


def select_questions(n: int) -> list[str]:
    """``n`` held-back BANKING77 questions of 5-15 words, evenly spread over the list."""
    held = split(read_banking77())[1]
    texts = list(dict.fromkeys(row.text for row in held if 5 <= len(row.text.split()) <= 15))
    if n >= len(texts):
        return texts
    return [texts[i * len(texts) // n] for i in range(n)]


def synthesize(voice: Any, text: str) -> Utterance:
    """Piper speaking ``text`` whole, at 16 kHz, and the word boundary nearest its middle."""
    pcm: list[Int16] = []
    boundaries: list[tuple[int, int]] = []  # (start, end) sample spans of eligible " " phonemes
    offset = 0
    for chunk in voice.synthesize(text, include_alignments=True):
        audio = np.frombuffer(chunk.audio_int16_bytes, dtype=np.int16)
        alignments = chunk.phoneme_alignments or []
        position = offset
        for k, alignment in enumerate(alignments):
            start, position = position, position + int(alignment.num_samples)
            previous = alignments[k - 1].phoneme if k else ""
            if alignment.phoneme == " " and previous not in PUNCTUATION and 0 < k < len(alignments) - 2:
                boundaries.append((start, position))
        pcm.append(audio)
        offset += len(audio)
    if not boundaries:
        raise ValueError(f"no phoneme alignments for {text!r}")
    ratio = SAMPLE_RATE / voice.config.sample_rate
    samples = np.concatenate(pcm).astype(np.float32)
    resampled = np.clip(soxr.resample(samples, voice.config.sample_rate, SAMPLE_RATE), -32768, 32767)
    loud = np.flatnonzero(np.abs(resampled) > SPEECH_LEVEL)
    first, last = int(loud[0]), int(loud[-1])
    speech = resampled[first : last + 1].astype(np.float32)
    middle = (last - first) / 2
    spans = [(round(a * ratio) - first, round(b * ratio) - first) for a, b in boundaries]
    spans = [(max(a, 1), min(b, len(speech) - 1)) for a, b in spans if b > 1 and a < len(speech) - 1]
    if not spans:
        raise ValueError(f"no word boundary inside the speech of {text!r}")
    start, end = min(spans, key=lambda span: abs((span[0] + span[1]) / 2 - middle))
    # cut at the quietest 10 ms inside the boundary, so the pause does not split a sound
    window = SAMPLE_RATE // 100
    energy = np.convolve(np.abs(speech), np.ones(window) / window, mode="same")
    cut = start + int(np.argmin(energy[start:end])) if end > start else start
    return Utterance(text, speech, cut)


@dataclass(frozen=True)
class Trial:
    """One turn of the stream: noisy audio and where the customer's speech really is."""

    question: int
    pause_s: float | None  # None: a complete turn
    audio: bytes  # int16 16 kHz with noise
    loud: npt.NDArray[np.int64]  # indices of speech samples (clean audio above SPEECH_LEVEL)

    @property
    def speech_end_s(self) -> float:
        return float(self.loud[-1] + 1) / SAMPLE_RATE

    def next_speech_s(self, t: float) -> float | None:
        """When the customer is next heard after ``t`` (None: not in this trial)."""
        k = int(np.searchsorted(self.loud, t * SAMPLE_RATE, side="right"))
        return float(self.loud[k]) / SAMPLE_RATE if k < len(self.loud) else None


def _silence(seconds: float) -> Float32:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)


def _noisy(clean: Float32, rng: np.random.Generator) -> bytes:
    sigma = 32768.0 * 10 ** (NOISE_DBFS / 20)
    noisy = clean + rng.normal(0.0, sigma, len(clean))
    return bytes(np.clip(np.round(noisy), -32768, 32767).astype(np.int16).tobytes())


def trials_of(k: int, utterance: Utterance, rng: np.random.Generator) -> list[Trial]:
    """The complete turn and the paused turns of one question."""
    speech, cut = utterance.speech, utterance.cut
    clean_turns: list[tuple[float | None, Float32]] = [
        (None, np.concatenate([_silence(LEAD_S), speech, _silence(TAIL_S)]))
    ]
    for pause in PAUSES_S:
        clean_turns.append(
            (pause, np.concatenate([_silence(LEAD_S), speech[:cut], _silence(pause), speech[cut:]]))
        )
    return [
        Trial(k, pause, _noisy(clean, rng), np.flatnonzero(np.abs(clean) > SPEECH_LEVEL))
        for pause, clean in clean_turns
    ]


# --- strategies --------------------------------------------------------------------------


class VadStream:
    """A Silero VAD read as pipecat's VADController reads it: confirmed starts and stops only."""

    def __init__(self, stop_secs: float) -> None:
        self.analyzer = SileroVADAnalyzer(params=VADParams(start_secs=START_SECS, stop_secs=stop_secs))
        self.analyzer.set_sample_rate(SAMPLE_RATE)
        self.speaking = False
        self.cpu_s = 0.0

    async def step(self, frame: bytes) -> str | None:
        """Analyse one frame: "start", "stop" (the turn ends here) or None."""
        started = time.process_time()
        state = await self.analyzer.analyze_audio(frame)
        self.cpu_s += time.process_time() - started
        if state is VADState.SPEAKING and not self.speaking:
            self.speaking = True
            return "start"
        if state is VADState.QUIET and self.speaking:
            self.speaking = False
            return "stop"
        return None

    async def cleanup(self) -> None:
        await self.analyzer.cleanup()


class AudioClock:
    """``time.monotonic`` for pipecat's smart-turn buffer: the audio position, not the wall clock."""

    perf_counter = staticmethod(time.perf_counter)

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


@contextlib.contextmanager
def audio_clock() -> Iterator[AudioClock]:
    clock = AudioClock()
    with mock.patch.object(base_smart_turn, "time", clock):
        yield clock


class SmartTurn:
    """Smart Turn v3 behind a VAD, as pipecat's TurnAnalyzerUserTurnStopStrategy drives it."""

    def __init__(self) -> None:
        self.analyzer = LocalSmartTurnAnalyzerV3(
            cpu_count=1, params=SmartTurnParams(stop_secs=SMART_STOP_SECS)
        )
        self.analyzer.set_sample_rate(SAMPLE_RATE)
        self.user_speaking = False
        self.cpu_s = 0.0
        self.calls = 0
        self.infer_ms: list[float] = []

    async def warm_up(self) -> None:
        """One inference on noise, so the timed calls do not pay for the first one."""
        self.analyzer.append_audio(_noisy(_silence(2.0), np.random.default_rng(0)), True)
        await self.analyzer.analyze_end_of_turn()
        self.reset()

    def reset(self) -> None:
        """Between trials: the turn was ended elsewhere (handle_user_turn_stopped)."""
        self.analyzer.clear()
        self.user_speaking = False

    async def step(self, frame: bytes, vad_event: str | None, t: float) -> tuple[float, bool] | None:
        """One frame and the VAD's verdict on it: (decision time, by fallback) or None."""
        started = time.process_time()
        state = self.analyzer.append_audio(frame, self.user_speaking)
        self.cpu_s += time.process_time() - started
        decided: tuple[float, bool] | None = None
        if state is EndOfTurnState.COMPLETE:  # its silence fallback; the buffer is already empty
            await self.analyzer.analyze_end_of_turn()
            self.reset()
            decided = (t, True)
        if vad_event == "start":
            self.analyzer.update_vad_start_secs(START_SECS)
            self.user_speaking = True
        elif vad_event == "stop":
            self.user_speaking = False
            cpu, wall = time.process_time(), time.perf_counter()
            state, _ = await self.analyzer.analyze_end_of_turn()
            infer_s = time.perf_counter() - wall
            self.cpu_s += time.process_time() - cpu
            self.calls += 1
            self.infer_ms.append(infer_s * 1000)
            if state is EndOfTurnState.COMPLETE:
                self.reset()
                decided = (t + infer_s, False)
        return decided

    async def cleanup(self) -> None:
        await self.analyzer.cleanup()


@dataclass
class Outcome:
    """What one strategy did in one trial: its turn-end decisions (trial time, s)."""

    decisions: list[float] = field(default_factory=list)
    cpu_s_at: list[float] = field(default_factory=list)  # strategy CPU since trial start, per decision
    by_fallback: list[bool] = field(default_factory=list)
    calls: int = 0


def _name(stop_secs: float) -> str:
    return f"silence_{stop_secs}"


class Bench:
    """All strategies on one continuous stream of trials."""

    def __init__(self, stop_secs: Sequence[float] = STOP_SECS) -> None:
        self.stop_secs = tuple(stop_secs)
        self.vads = {s: VadStream(s) for s in sorted({*self.stop_secs, SMART_VAD_STOP_SECS})}
        self.smart = SmartTurn()
        self.clock_s = 0.0  # stream position

    @property
    def names(self) -> list[str]:
        return [*map(_name, self.stop_secs), SMART]

    async def run_trial(self, trial: Trial, clock: AudioClock) -> dict[str, Outcome]:
        outcomes = {name: Outcome() for name in self.names}
        cpu0 = {s: vad.cpu_s for s, vad in self.vads.items()}
        smart_cpu0, smart_calls0 = self.smart.cpu_s, self.smart.calls
        frame_bytes = 2 * FRAME_SAMPLES
        t = 0.0
        for i in range(len(trial.audio) // frame_bytes):
            if trial.pause_s is None and all(
                o.decisions and o.decisions[-1] >= trial.speech_end_s for o in outcomes.values()
            ):
                break  # a complete turn: every strategy has ended it, the rest is silence
            frame = trial.audio[i * frame_bytes : (i + 1) * frame_bytes]
            t = (i + 1) * FRAME_SAMPLES / SAMPLE_RATE
            clock.now = self.clock_s + t
            for stop_secs, vad in self.vads.items():
                event = await vad.step(frame)
                if event == "stop" and stop_secs in self.stop_secs:
                    outcome = outcomes[_name(stop_secs)]
                    outcome.decisions.append(t)
                    outcome.cpu_s_at.append(vad.cpu_s - cpu0[stop_secs])
                    outcome.by_fallback.append(False)
                if stop_secs == SMART_VAD_STOP_SECS:
                    decided = await self.smart.step(frame, event, t)
                    if decided is not None:
                        smart = outcomes[SMART]
                        smart.decisions.append(decided[0])
                        smart.by_fallback.append(decided[1])
                        smart.cpu_s_at.append(vad.cpu_s - cpu0[stop_secs] + self.smart.cpu_s - smart_cpu0)
        outcomes[SMART].calls = self.smart.calls - smart_calls0
        self.clock_s += t
        await self._drain(clock)
        return outcomes

    async def _drain(self, clock: AudioClock) -> None:
        """Feed silence until every VAD is quiet again; the next trial starts a new turn."""
        frame = _noisy(_silence(FRAME_SAMPLES / SAMPLE_RATE), np.random.default_rng(1))
        for _ in range(round(MAX_DRAIN_S * SAMPLE_RATE / FRAME_SAMPLES)):
            if not any(vad.speaking for vad in self.vads.values()):
                break
            self.clock_s += FRAME_SAMPLES / SAMPLE_RATE
            clock.now = self.clock_s
            for vad in self.vads.values():
                await vad.step(frame)
        self.smart.reset()

    async def cleanup(self) -> None:
        for vad in self.vads.values():
            await vad.cleanup()
        await self.smart.cleanup()


# --- report ------------------------------------------------------------------------------


def _p(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)


def _rate(flags: Sequence[bool]) -> float | None:
    return round(sum(flags) / len(flags), 3) if flags else None


def _false_ends(trial: Trial, outcome: Outcome) -> tuple[bool, bool]:
    """(a turn end before the customer finished, one the customer hears)."""
    early = [d for d in outcome.decisions if d < trial.speech_end_s]
    heard = False
    for d in early:
        resumed = trial.next_speech_s(d)
        heard |= resumed is not None and resumed - d > REPLY_LATENCY_S
    return bool(early), heard


def summarise(name: str, results: list[tuple[Trial, Outcome]]) -> dict[str, Any]:
    complete = [(tr, o) for tr, o in results if tr.pause_s is None]
    turn_end_ms: list[float] = []
    cpu_ms: list[float] = []
    fallback: list[bool] = []
    calls: list[int] = []
    for trial, outcome in complete:
        after = [k for k, d in enumerate(outcome.decisions) if d >= trial.speech_end_s]
        calls.append(outcome.calls)
        if after:
            k = after[0]
            turn_end_ms.append((outcome.decisions[k] - trial.speech_end_s) * 1000)
            cpu_ms.append(outcome.cpu_s_at[k] * 1000)
            fallback.append(outcome.by_fallback[k])
    false_end: dict[str, float | None] = {"none": _rate([_false_ends(tr, o)[0] for tr, o in complete])}
    heard_by_pause: dict[str, float | None] = {}
    heard_all: list[bool] = []
    for pause in PAUSES_S:
        verdicts = [_false_ends(tr, o) for tr, o in results if tr.pause_s == pause]
        false_end[str(pause)] = _rate([v[0] for v in verdicts])
        heard_by_pause[str(pause)] = _rate([v[1] for v in verdicts])
        heard_all += [v[1] for v in verdicts]
    summary: dict[str, Any] = {
        "turn_end_ms_p50": _p(turn_end_ms, 0.5),
        "turn_end_ms_p95": _p(turn_end_ms, 0.95),
        "turn_end_ms_mean": round(statistics.fmean(turn_end_ms), 1) if turn_end_ms else None,
        "no_turn_end": len(complete) - len(turn_end_ms),
        "false_end_rate": false_end,
        "heard_false_end_rate": _rate(heard_all),
        "heard_false_end_rate_by_pause": heard_by_pause,
        "cpu_ms_per_turn": round(statistics.fmean(cpu_ms), 1) if cpu_ms else None,
    }
    if name == SMART:
        summary["fallback_rate"] = _rate(fallback)
        summary["calls_per_complete_turn"] = round(statistics.fmean(calls), 2) if calls else None
        paused_calls = [o.calls for tr, o in results if tr.pause_s is not None]
        summary["calls_per_paused_turn"] = round(statistics.fmean(paused_calls), 2) if paused_calls else None
    return summary


def recommend(strategies: dict[str, dict[str, Any]]) -> str:
    """RULE (module docstring)."""

    def p50(name: str) -> float:
        value = strategies[name]["turn_end_ms_p50"]
        return float("inf") if value is None else float(value)

    def heard(name: str) -> float:
        value = strategies[name]["heard_false_end_rate"]
        return 1.0 if value is None else float(value)

    def p95(name: str) -> float:
        value = strategies[name]["turn_end_ms_p95"]
        return float("inf") if value is None else float(value)

    eligible = [name for name in strategies if p95(name) <= TURN_END_BUDGET_MS]
    if eligible:
        return min(eligible, key=lambda name: (heard(name), p50(name)))
    return min(strategies, key=p95)


async def run(texts: Sequence[str], *, voice: Any = None, seed: int = 7) -> dict[str, Any]:
    """Synthesise ``texts``, run every strategy on their turns, and summarise (module docstring)."""
    started = time.perf_counter()
    if voice is None:
        voice = load_piper_voice(resolve_piper_voice(load_settings().voice.piper_voice))
    rng = np.random.default_rng(seed)
    bench = Bench()
    results: dict[str, list[tuple[Trial, Outcome]]] = {name: [] for name in bench.names}
    used: list[str] = []
    skipped = 0
    try:
        await bench.smart.warm_up()
        with audio_clock() as clock:
            for text in texts:
                try:
                    utterance = synthesize(voice, text)
                except ValueError:
                    skipped += 1
                    continue
                used.append(text)
                for trial in trials_of(len(used) - 1, utterance, rng):
                    outcomes = await bench.run_trial(trial, clock)
                    for name, outcome in outcomes.items():
                        results[name].append((trial, outcome))
    finally:
        await bench.cleanup()
    strategies = {name: summarise(name, rows) for name, rows in results.items()}
    infer = bench.smart.infer_ms
    return {
        "questions": len(used),
        "skipped_questions": skipped,
        "pauses_s": list(PAUSES_S),
        "reply_latency_ms": REPLY_LATENCY_S * 1000,
        "strategies": strategies,
        "smart_turn_infer_ms_p50": _p(infer, 0.5),
        "smart_turn_infer_ms_p95": _p(infer, 0.95),
        "smart_turn_calls": len(infer),
        "rule": RULE,
        "recommended": recommend(strategies),
        "load_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--questions", type=int, default=40)
    args = parser.parse_args()
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    report = asyncio.run(run(select_questions(args.questions)))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
