"""Lip-sync as a real browser plays it: Chromium's WebRTC receive statistics for the avatar.

Serves the app in-process, opens the customer page in headless Debian Chromium (its
fake microphone plays a question synthesised by Piper), waits for the answer and
samples ``getStats()`` every 0.5 s for ``--seconds`` while the reply plays:

    av_offset_ms_p50 / _p95  video minus audio ``estimatedPlayoutTimestamp`` (sender time
                             of what each track is playing now; 0 = in sync), |p95|
    video_fps                frames received per second (speech at avatar.fps, rest slower)
    frames_dropped, freezes  Chromium's counts over the window
    video_jitter_buffer_ms   mean jitter-buffer delay per frame over the window
    audio_jitter_buffer_ms   the same for audio

Prints one JSON object as the last line.
Run: .venv/bin/python bench/browser_av_sync.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness.chromium import BASE_ARGS, CHROMIUM, question_wav
from bench.harness.serve import serve
from bench.voice_latency import _p

QUESTION = "My card still has not arrived. What should I do?"
ANSWER_WORDS = "Track delivery"
KEEP_PEER_CONNECTIONS = """
window.__pcs = [];
const Native = window.RTCPeerConnection;
window.RTCPeerConnection = function (...args) {
  const pc = new Native(...args);
  window.__pcs.push(pc);
  return pc;
};
window.RTCPeerConnection.prototype = Native.prototype;
"""
INBOUND = """async () => {
  const out = {};
  for (const r of (await window.__pcs[window.__pcs.length - 1].getStats()).values()) {
    if (r.type === 'inbound-rtp') out[r.kind] = r;
  }
  return out;
}"""


def _delta(after: dict[str, Any], before: dict[str, Any], key: str) -> float:
    return float(after.get(key, 0)) - float(before.get(key, 0))


def _measure(base_url: str, wav: Path, seconds: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=[*BASE_ARGS, f"--use-file-for-fake-audio-capture={wav}"]
        )
        try:
            page = browser.new_page()
            page.add_init_script(KEEP_PEER_CONNECTIONS)
            page.goto(f"{base_url}/")
            page.get_by_role("button", name="Start talking").click()
            page.wait_for_function(
                "(words) => [...document.querySelectorAll('#log .msg-bot')]"
                ".some((m) => m.textContent.includes(words))",
                arg=ANSWER_WORDS,
                timeout=90_000,
            )
            first = page.evaluate(INBOUND)
            offsets: list[float] = []
            for _ in range(int(seconds / 0.5)):
                time.sleep(0.5)
                now = page.evaluate(INBOUND)
                audio_at = now["audio"].get("estimatedPlayoutTimestamp")
                video_at = now["video"].get("estimatedPlayoutTimestamp")
                if audio_at and video_at:
                    offsets.append(float(video_at) - float(audio_at))
            last = page.evaluate(INBOUND)
        finally:
            browser.close()
    video0, video1, audio0, audio1 = first["video"], last["video"], first["audio"], last["audio"]

    def buffer_ms(after: dict[str, Any], before: dict[str, Any]) -> float:
        emitted = _delta(after, before, "jitterBufferEmittedCount")
        return round(1000 * _delta(after, before, "jitterBufferDelay") / max(1.0, emitted), 1)

    return {
        "av_offset_ms_p50": round(float(np.median(offsets)), 1) if offsets else None,
        "av_offset_ms_p95": _p([abs(o) for o in offsets], 0.95) if offsets else None,
        "samples": len(offsets),
        "video_fps": round(_delta(video1, video0, "framesReceived") / seconds, 1),
        "frames_dropped": int(_delta(video1, video0, "framesDropped")),
        "freezes": int(_delta(video1, video0, "freezeCount")),
        "video_jitter_buffer_ms": buffer_ms(video1, video0),
        "audio_jitter_buffer_ms": buffer_ms(audio1, audio0),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(json.dumps({"error": f"{CHROMIUM} missing: make setup installs chromium"}))
        return 1
    with tempfile.TemporaryDirectory(prefix="teller-av-sync-") as tmp, serve() as live:
        wav = question_wav(Path(tmp) / "question.wav", QUESTION, tail_s=30)
        result = _measure(live.base_url, wav, args.seconds)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
