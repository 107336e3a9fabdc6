"""The customer page and the kiosk in a real headless Chromium, against the real voice path.

Chromium's fake microphone plays a question synthesised by Piper; the page talks
to the in-process server over WebRTC, and the test waits for the approved answer
in the subtitles and for the avatar's video.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.harness.chromium import BASE_ARGS, CHROMIUM, question_wav
from tests.e2e.conftest import console_problems

QUESTION = "My card still has not arrived. What should I do?"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="apt-get install -y chromium"),
]


def test_customer_asks_by_voice_and_sees_the_answer(live_server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    # Chromium loops the file until the call is up. The silence after the question is longer than
    # a slow answer takes: each repetition restarts a turn still in flight (the customer said
    # it again), so on a saturated machine a short loop never let one finish.
    wav = question_wav(tmp_path / "question.wav", QUESTION, tail_s=40)
    shot = tmp_path / "customer_page.png"
    args = [*BASE_ARGS, f"--use-file-for-fake-audio-capture={wav}"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems = console_problems(page)
            page.goto(f"{live_server}/")
            assert page.get_by_role("heading", name="Talk to Ava, our digital teller").is_visible()
            page.get_by_role("button", name="Start talking").click()
            # The voice models are loaded (live_server): the wait is for the answer alone.
            page.wait_for_function(
                "() => [...document.querySelectorAll('#log .msg-bot')]"
                ".some((m) => m.textContent.includes('Track delivery'))",
                timeout=240_000,
            )
            assert "Track delivery" in page.locator("#log").inner_text()
            page.wait_for_function(
                "() => { const v = document.getElementById('avatar');"
                " return !v.hidden && v.videoWidth > 0 && v.readyState >= 2; }",
                timeout=20_000,
            )
            width = page.evaluate("document.getElementById('avatar').videoWidth")
            assert width > 0
            transcript = page.locator("#log .msg-you").first.inner_text().lower()
            assert "card" in transcript
            page.wait_for_function(
                "() => document.getElementById('bot-said').textContent.includes('Track delivery')",
                timeout=30_000,
            )
            page.screenshot(path=str(shot))
            page.get_by_role("button", name="End call").click()
            assert page.locator("#status-text").inner_text() == "Call ended"
            page.get_by_role("button", name="Yes, this was helpful").click()
            page.wait_for_function(
                "() => document.getElementById('fb-status').textContent.includes('Thank you')", timeout=10_000
            )
            page.screenshot(path=str(tmp_path / "customer_page_ended.png"), full_page=True)
            assert not [p for p in problems if "favicon" not in p], problems
        finally:
            browser.close()
    assert shot.stat().st_size > 20_000
    print(f"screenshots: {shot} {tmp_path / 'customer_page_ended.png'}")


def test_kiosk_shows_the_attract_loop(live_server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=BASE_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1080, "height": 1920})
            problems = console_problems(page)
            page.goto(f"{live_server}/kiosk")
            attract = page.locator("#attract")
            attract.wait_for(state="visible", timeout=10_000)
            assert "how can I help" in attract.inner_text()
            assert page.get_by_role("button", name="Tap to start").is_visible()
            assert page.locator("#live").is_hidden()
            # Presence detection runs on the fake camera (no face there): the kiosk stays idle.
            page.wait_for_function("() => document.body.dataset.presence === 'checked'", timeout=20_000)
            assert page.locator("#live").is_hidden()
            page.screenshot(path=str(tmp_path / "kiosk_attract.png"))
            assert not problems, problems
        finally:
            browser.close()
    print(f"screenshot: {tmp_path / 'kiosk_attract.png'}")


def test_presence_endpoint_finds_no_face_in_a_blank_frame(live_server: str) -> None:
    import cv2
    import httpx

    ok, jpeg = cv2.imencode(".jpg", np.full((240, 320, 3), 200, np.uint8))
    assert ok
    with httpx.Client(base_url=live_server, trust_env=False, timeout=30) as http:
        reply = http.post(
            "/api/v1/kiosk/presence", content=jpeg.tobytes(), headers={"Content-Type": "image/jpeg"}
        )
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"face": False}
        assert http.post("/api/v1/kiosk/presence", content=b"not a jpeg").status_code == 422
        too_big = http.post("/api/v1/kiosk/presence", content=b"\xff" * 120_000)
        assert too_big.status_code == 413
