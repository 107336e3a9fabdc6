"""The operator console in a real headless Chromium: log in, see the waiting customer,
take over, speak a line the customer receives in the avatar's voice."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bench.harness.chromium import BASE_ARGS, CHROMIUM
from bench.harness.operator_probe import CustomerProbe
from server.auth.users import Role, UserDirectory
from server.runtime import Runtime
from tests.e2e.conftest import console_problems

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="apt-get install -y chromium"),
]
PASSWORD = "operator password 1"
LINE = "Hello, this is Opal from Demo Bank. I can help you now."


class CustomerThread:
    """A websocket customer on its own event loop who asks for a person and then listens."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session_id = ""
        self.ready = threading.Event()
        self.heard_operator = threading.Event()
        self.notices: list[str] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="e2e-customer", daemon=True)

    def __enter__(self) -> CustomerThread:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            asyncio.run(self._talk())
        except BaseException as exc:  # reported to the test thread
            self.error = exc
            self.ready.set()

    async def _talk(self) -> None:
        async with CustomerProbe(self.base_url) as customer:
            self.session_id = customer.session_id
            since = time.monotonic()
            await customer.say("I want to talk to a person")
            await customer.heard.event(lambda e: e["type"] == "bot_text", 60, since)
            self.ready.set()

            def operator_line(event: dict[str, Any]) -> bool:
                return event["type"] == "bot_text" and event["speaker"] == "operator"

            event = await customer.heard.event(operator_line, 120)
            assert event["text"] == LINE
            await customer.wait_speech(since=time.monotonic() - 5, within_s=30)
            self.notices = [e["notice"] for e in customer.events("session") if e.get("notice")]
            self.heard_operator.set()
            await asyncio.to_thread(self._stop.wait)


def test_operator_logs_in_takes_over_and_speaks(live_server: str, runtime: Runtime, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    UserDirectory(runtime.store.engine).add("opal", Role.OPERATOR, PASSWORD)
    with CustomerThread(live_server) as customer, sync_playwright() as pw:
        assert customer.ready.wait(120) and customer.error is None, customer.error
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=BASE_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems = console_problems(page)
            page.goto(f"{live_server}/operator")
            assert "/login" in page.url  # no console without a login
            page.fill("input[name=username]", "opal")
            page.fill("input[name=password]", PASSWORD)
            page.locator("form button[type=submit]").click()
            page.wait_for_url(f"{live_server}/operator", timeout=30_000)
            row = page.locator(f"#queue li[data-session='{customer.session_id}']")
            row.wait_for(timeout=30_000)
            assert "customer request" in row.inner_text()
            row.click()
            page.wait_for_function(
                "() => document.getElementById('transcript').textContent.includes('talk to a person')",
                timeout=30_000,
            )
            assert page.locator("#brief").is_visible()
            page.get_by_role("button", name="Take over").click()
            page.wait_for_function(
                "() => document.getElementById('view-mode').textContent === 'human'", timeout=30_000
            )
            page.fill("#say-text", LINE)
            page.get_by_role("button", name="Speak").click()
            page.wait_for_selector("#transcript li[data-speaker='operator']", timeout=30_000)
            assert customer.heard_operator.wait(60), customer.error
            assert customer.notices == ["You are now talking with opal."]
            page.screenshot(path=str(tmp_path / "operator_console.png"), full_page=True)
            assert not problems, problems
        finally:
            browser.close()
    assert (tmp_path / "operator_console.png").stat().st_size > 20_000
    print(f"screenshot: {tmp_path / 'operator_console.png'}")
