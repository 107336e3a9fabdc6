"""A customer on a network of its own, run inside its namespace (``ip netns exec``).

``python -m bench.harness.relay_customer BASE_URL QUESTION_WAV [--insecure]`` is the aiortc
probe: it takes a session (with its ICE servers and signalling prefix) from ``BASE_URL``, says
the question, waits for the teller's spoken reply and prints what happened as one JSON object
on stdout: the transcript, the decision, how much reply audio came back, and the ICE candidate
types the audio used. Used by tests/network/test_turn_relay.py and bench/scale_out.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import wave
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness.voice_probe import SEND_RATE, VoiceProbe

REPLY_FRAMES = 50  # a second of the spoken reply (20 ms frames)
WAIT_S = 300.0  # a generous bound on a busy machine; the caller fails, rather than hangs, past it


def _samples(path: Path) -> np.ndarray[Any, np.dtype[np.int16]]:
    with wave.open(str(path), "rb") as wav:
        assert wav.getframerate() == SEND_RATE and wav.getnchannels() == 1 and wav.getsampwidth() == 2
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)


async def ask(base_url: str, question: Path, *, verify: bool = True) -> dict[str, Any]:
    async with VoiceProbe(base_url, verify=verify) as probe:
        await probe.wait_for(lambda: probe.events("session"), WAIT_S)
        await probe.say(_samples(question))
        await probe.wait_for(lambda: probe.utterance_ends, WAIT_S)
        end = probe.utterance_ends[-1]
        transcripts = await probe.wait_for(lambda: probe.events("transcript"), WAIT_S)
        await probe.wait_for(lambda: [t for t in probe.log.audio_onsets if t > end], WAIT_S)
        replies = await probe.wait_for(lambda: probe.events("bot_text"), WAIT_S)

        def heard() -> int:  # loud reply frames since the question ended
            return len([t for t in probe.log.loud_times if t > end])

        await probe.wait_for(lambda: heard() >= REPLY_FRAMES, WAIT_S)
        return {
            "session_id": probe.session_id,
            "worker": probe.worker,
            "transcript": transcripts[0].get("text"),
            "decision": replies[0].get("decision"),
            "reply_loud_frames": heard(),
            "candidates": probe.candidate_types(),
            "worker_candidates": sorted(probe.remote_candidate_types()),
        }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("question", type=Path)
    parser.add_argument("--insecure", action="store_true", help="accept a self-signed certificate")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(ask(args.base_url, args.question, verify=not args.insecure))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
