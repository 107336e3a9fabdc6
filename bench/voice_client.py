"""The customer side of bench/voice_latency.py, in a process of its own.

A customer's browser does not share the server's process (nor its GIL), so the
benchmark runs its aiortc probes here: this process connects ``--sessions``
concurrent sessions, speaks the utterances it is given and writes one JSON line
per milestone to stdout, with ``time.monotonic()`` timestamps (CLOCK_MONOTONIC
is one clock for every process of the machine, so the server's marks compare).

    {"event": "session", "k": 0, "session_id": "...", "worker": ...} as soon as connected
    {"event": "turn", "k": 0, "end": t, "onset": t}             speech end → first reply audio
    {"event": "barge", "k": 0, "onset": t, "start": t, "end": t} reply onset, speech start, reply end
    {"event": "done"}                                           or {"event": "error", "error": "..."}

Run by bench/voice_latency.py and bench/scale_out.py (``--insecure``: a self-signed certificate);
utterances are PCM16 mono 48 kHz ``.npy`` files.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness.voice_probe import VoiceProbe

BARGE_IN_QUESTION = "How long does delivery of a new card take?"
Audio = npt.NDArray[np.int16]


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


async def _reply_onset(probe: VoiceProbe, after: float, within: float) -> float:
    """When the first reply audio after ``after`` arrived (waiting up to ``within`` s)."""
    onset: float = await probe.wait_for(
        lambda: next((t for t in probe.log.audio_onsets if t > after), None), within
    )
    return onset


async def _connect(probe: VoiceProbe, k: int) -> None:
    await probe.wait_for(lambda: probe.events("session"), 60)
    emit("session", k=k, session_id=probe.session_id, worker=probe.worker)


async def turns(base: str, k: int, utterances: list[Audio], verify: bool = True) -> None:
    """Ask each utterance in turn; wait until the reply has played before the next."""
    async with VoiceProbe(base, verify=verify) as probe:
        await _connect(probe, k)
        await asyncio.sleep(1.0)
        for q, speech in enumerate(utterances):
            step = f"session {k}, question {q}"
            try:
                ends_before = len(probe.utterance_ends)
                await probe.say(speech)
                await probe.wait_for(lambda n=ends_before: len(probe.utterance_ends) > n, 30)
                end = probe.utterance_ends[-1]
                step += ": reply audio"
                onset = await _reply_onset(probe, end, 30)
                emit("turn", k=k, end=end, onset=onset)
                step += " end"
                await probe.wait_idle(onset, within=120)
                await probe.wait_quiet(0.5)
            except TimeoutError as exc:
                states = [
                    (round(t - probe.utterance_ends[-1], 2), e.get("avatar") or e["type"])
                    for t, e in probe.log.events[-6:]
                ]
                raise TimeoutError(f"{step}: {exc}; last events (s after speech end): {states}") from exc


async def barge_in(base: str, k: int, interjection: Audio, trials: int, verify: bool = True) -> None:
    """Speak over the reply 1 s into it: when speech started, when the reply audio stopped.

    A trial ends only once the interjection was sent whole and the bot's answer to it has
    played, so the next trial's question never lands on the customer still speaking."""
    async with VoiceProbe(base, verify=verify) as probe:
        await _connect(probe, k)
        await asyncio.sleep(1.0)
        for _ in range(trials):
            sent = time.monotonic()
            probe.send({"type": "text", "text": BARGE_IN_QUESTION})
            onset = await _reply_onset(probe, sent, 60)
            await asyncio.sleep(1.0)
            starts, ends = len(probe.utterance_starts), len(probe.utterance_ends)
            await probe.say(interjection)
            await probe.wait_for(lambda n=starts: len(probe.utterance_starts) > n, 30)
            start = probe.utterance_starts[-1]
            await asyncio.sleep(2.0)
            emit("barge", k=k, onset=onset, start=start, end=probe.reply_audio_end(start))
            await probe.wait_for(lambda n=ends: len(probe.utterance_ends) > n, 30)
            said = probe.utterance_ends[-1]
            answer = await _reply_onset(probe, said, 60)
            await probe.wait_idle(answer, within=120)
            await probe.wait_quiet(1.5)  # a turn split at a pause may bring a second answer


async def run(args: argparse.Namespace) -> None:
    audio = [np.load(path) for path in args.utterance]
    verify = not args.insecure
    if args.mode == "turns":
        await asyncio.gather(*(turns(args.base, k, audio, verify) for k in range(args.sessions)))
    else:
        await asyncio.gather(
            *(barge_in(args.base, k, audio[0], args.trials, verify) for k in range(args.sessions))
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("mode", choices=["turns", "barge"])
    parser.add_argument("utterance", nargs="+", type=Path)
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--insecure", action="store_true", help="accept a self-signed certificate")
    args = parser.parse_args()
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(run(args), args.sessions * 600))
    except Exception as exc:  # reported to the parent, which counts the round as failed
        emit("error", error=f"{type(exc).__name__}: {exc}")
        return 1
    emit("done")
    return 0


if __name__ == "__main__":
    # No interpreter teardown: aiortc tasks of a failed session may never finish.
    code = main()
    sys.stdout.flush()
    os._exit(code)
