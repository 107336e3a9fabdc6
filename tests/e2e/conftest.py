"""A live server for browser tests (the Chromium they drive is in ``bench.harness.chromium``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.harness.serve import serve_app
from server.app import create_app
from server.config import Settings
from server.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def live_server(demo_settings: Settings, runtime: Runtime) -> Iterator[str]:
    """The whole app on a free loopback port, served by uvicorn in a background thread."""
    demo_settings.voice.model_cache_dir = REPO / "var" / "models"
    app = create_app(demo_settings, runtime)
    with serve_app(app, name="e2e-uvicorn", load_voice=True) as base_url:
        yield base_url


def console_problems(page: Any) -> list[str]:
    """Collects the page's console errors and uncaught exceptions."""
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
    return problems
