"""Operator takeover speed on a live server (websocket customer, operator console on loopback).

Each cycle: the customer asks a question with a long approved answer; 0.5 s after the
first reply audio arrives the operator takes over; once that is cut the operator says a
line; then hands back. Keys (times measured at the clients on loopback):

    cut_ms_p95                  take_over sent → last bot audio frame received
    operator_first_audio_ms_p95 say sent → first audio frame of the operator's line received
    ack_ms_p50                  take_over sent → its ack (mode changed, audited)

Run: .venv/bin/python bench/takeover.py [--takeovers 20] [--per-session 5]
Prints one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness.operator_probe import ConsoleProbe, CustomerProbe, staff_login
from bench.harness.serve import serve
from server.auth.users import Role, UserDirectory

QUESTIONS = [
    "How do I get a refund for a card payment I did not recognise?",
    "My card still has not arrived. What should I do?",
    "Why was I charged for taking cash out at the ATM?",
    "How long does a transfer to another bank take?",
    "I forgot my passcode and I can't log in.",
]
LINES = [
    "Hello, I'm Sam from the support team.",
    "Thanks for waiting, I can see your account.",
    "Let me check that for you.",
    "I can help with that right now.",
    "One moment while I look.",
]
QUIET_S = 1.2  # no bot audio for this long: the cut is complete


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


async def _quiet_after(customer: CustomerProbe, since: float) -> float:
    """Wait until no speech frame arrived for ``QUIET_S``; return the last one after ``since``."""
    while True:
        frames = [t for t in customer.heard.speech_frames if t >= since]
        last = frames[-1] if frames else since
        if time.monotonic() - last >= QUIET_S:
            return last
        await asyncio.sleep(0.05)


async def _cycle(customer: CustomerProbe, console: ConsoleProbe, n: int) -> tuple[float, float, float]:
    sid = customer.session_id
    since = time.monotonic()
    await customer.say(QUESTIONS[n % len(QUESTIONS)])
    await customer.wait_speech(since, 60)
    await asyncio.sleep(0.5)
    clicked = time.monotonic()
    ack = await console.command({"type": "take_over", "session_id": sid})
    acked = time.monotonic()
    assert ack["type"] == "ack", ack
    last_bot = await _quiet_after(customer, clicked)
    sent = time.monotonic()
    assert (await console.command({"type": "say", "session_id": sid, "text": LINES[n % len(LINES)]}))[
        "type"
    ] == "ack"
    first_operator = await customer.wait_speech(sent, 30)
    await _quiet_after(customer, sent)
    assert (await console.command({"type": "hand_back", "session_id": sid}))["type"] == "ack"
    return (max(0.0, last_bot - clicked) * 1000, (first_operator - sent) * 1000, (acked - clicked) * 1000)


async def _measure(base_url: str, takeovers: int, per_session: int) -> dict[str, object]:
    cookies = await staff_login(base_url, "bench-operator", "bench-operator-password")
    cuts: list[float] = []
    firsts: list[float] = []
    acks: list[float] = []
    async with ConsoleProbe(base_url, cookies) as console:
        while len(cuts) < takeovers:
            async with CustomerProbe(base_url) as customer:
                for _ in range(min(per_session, takeovers - len(cuts))):
                    cut, first, ack = await _cycle(customer, console, len(cuts))
                    cuts.append(cut)
                    firsts.append(first)
                    acks.append(ack)
                    print(
                        f"takeover {len(cuts)}: cut {cut:.0f} ms, operator audio {first:.0f} ms",
                        file=sys.stderr,
                    )
    return {
        "takeovers": len(cuts),
        "cut_ms_p50": _p(cuts, 0.5),
        "cut_ms_p95": _p(cuts, 0.95),
        "operator_first_audio_ms_p50": _p(firsts, 0.5),
        "operator_first_audio_ms_p95": _p(firsts, 0.95),
        "ack_ms_p50": round(statistics.median(acks), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--takeovers", type=int, default=20)
    parser.add_argument("--per-session", type=int, default=5)
    args = parser.parse_args()
    with serve() as live:
        UserDirectory(live.runtime.store.engine).add(
            "bench-operator", Role.OPERATOR, "bench-operator-password"
        )
        result = asyncio.run(_measure(live.base_url, args.takeovers, args.per_session))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
