"""A real headless Chromium logs in and sees the admin (screenshot kept under var/screenshots/)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import uvicorn
from conftest import PASSWORD, REPO, AdminEnv

from server.app import create_app
from tests.servers import free_port

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = REPO / "var" / "screenshots" / "admin_after_login.png"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.browser
# Gradio's queue and uvicorn's thread leave sockets/loops for the GC at teardown (not our code).
@pytest.mark.filterwarnings(
    "ignore::ResourceWarning",
    "ignore::pytest.PytestUnraisableExceptionWarning",
    "ignore::pandas.errors.Pandas4Warning",  # Gradio's queue summary sets a deprecated pandas option
)
@pytest.mark.skipif(not CHROMIUM.exists(), reason="apt-get install -y chromium")
def test_admin_after_login_in_chromium(admin_env: AdminEnv) -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(runtime=admin_env.runtime), port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/admin/")
            page.wait_for_url("**/login**")
            page.fill("#username", "eddie")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/admin/**", timeout=60_000)
            page.get_by_text("lost_credit_card").first.wait_for(timeout=60_000)
            assert page.get_by_text("eddie").first.is_visible()
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert SCREENSHOT.stat().st_size > 10_000
