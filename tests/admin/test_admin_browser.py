"""A real headless Chromium logs in and sees the admin (screenshot kept under var/screenshots/)."""

from __future__ import annotations

import pytest

from bench.harness.chromium import BASE_ARGS, CHROMIUM
from bench.harness.serve import serve_app
from server.app import create_app
from tests.admin.conftest import PASSWORD, REPO, AdminEnv

SCREENSHOT = REPO / "var" / "screenshots" / "admin_after_login.png"
ARGS = [arg for arg in BASE_ARGS if "media-stream" not in arg]


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

    app = create_app(runtime=admin_env.runtime)
    with serve_app(app, name="admin-browser") as base_url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base_url}/admin/")
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
    assert SCREENSHOT.stat().st_size > 10_000
