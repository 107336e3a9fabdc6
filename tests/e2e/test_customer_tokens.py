"""The customer page sends its conversation's token the new ways, in a real headless Chromium:
typed questions and feedback with ``Authorization: Bearer`` (from the first /ask), and the
websocket with its token as a subprotocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.harness.chromium import BASE_ARGS, CHROMIUM, question_wav
from tests.e2e.conftest import console_problems

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="apt-get install -y chromium"),
]


def ask_in_page(page: Any, text: str, replies: int) -> None:
    page.locator("#question").fill(text)
    page.get_by_role("button", name="Send").click()
    page.wait_for_function(
        f"() => document.querySelectorAll('#log .msg-bot').length >= {replies}", timeout=120_000
    )


def test_typed_questions_and_feedback_carry_the_token(live_server: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=BASE_ARGS)
        try:
            page = browser.new_page()
            problems = console_problems(page)
            asked: list[dict[str, Any]] = []
            page.on(
                "request",
                lambda r: (
                    asked.append({"url": r.url, "auth": r.headers.get("authorization")})
                    if r.url.endswith(("/api/v1/ask", "/api/v1/feedback"))
                    else None
                ),
            )
            page.goto(f"{live_server}/")
            ask_in_page(page, "I lost my card", 1)
            ask_in_page(page, "the credit card one", 2)
            page.get_by_role("button", name="Yes, this was helpful").click()
            page.wait_for_function(
                "() => document.getElementById('fb-status').textContent.includes('Thank you')", timeout=20_000
            )
            assert [a["auth"] is not None for a in asked] == [False, True, True]
            assert not [p for p in problems if "favicon" not in p], problems
        finally:
            browser.close()


def test_the_websocket_opens_with_its_token_as_a_subprotocol(live_server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    wav = question_wav(tmp_path / "hello.wav", "Hello.", tail_s=5)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=[*BASE_ARGS, f"--use-file-for-fake-audio-capture={wav}"]
        )
        try:
            page = browser.new_page()
            sockets: list[str] = []
            page.on("websocket", lambda ws: sockets.append(ws.url))
            page.goto(f"{live_server}/?transport=ws")
            page.get_by_role("button", name="Start talking").click()
            page.wait_for_function(
                "() => document.getElementById('avatar-frame').dataset.transport === 'websocket'",
                timeout=120_000,
            )
            assert sockets and all("token" not in url for url in sockets), sockets
            page.get_by_role("button", name="End call").click()
        finally:
            browser.close()
