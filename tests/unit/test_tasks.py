"""``cancel_and_wait``: every task given is cancelled and has ended when it returns."""

from __future__ import annotations

import asyncio
import logging

import pytest

from server.tasks import cancel_and_wait


async def test_cancels_and_awaits_running_tasks_and_skips_none_and_finished() -> None:
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    async def fails() -> None:
        raise ValueError("the owner already saw this")

    running = asyncio.create_task(forever())
    finished = asyncio.create_task(fails())
    await started.wait()
    await asyncio.wait({finished})
    await cancel_and_wait(running, None, finished)
    assert running.cancelled() and finished.done()


async def test_a_task_failing_while_cancelled_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    started = asyncio.Event()

    async def cleanup_fails() -> None:
        try:
            started.set()
            await asyncio.Event().wait()
        finally:
            raise RuntimeError("cleanup broke")

    task = asyncio.create_task(cleanup_fails(), name="cleanup")
    await started.wait()
    with caplog.at_level(logging.ERROR, logger="server.tasks"):
        await cancel_and_wait(task)
    assert task.done() and "cleanup" in caplog.text


async def test_the_callers_own_cancellation_propagates() -> None:
    inner_started = asyncio.Event()

    async def stubborn() -> None:
        inner_started.set()
        await asyncio.Event().wait()

    inner = asyncio.create_task(stubborn())
    await inner_started.wait()
    outer = asyncio.create_task(cancel_and_wait(inner))
    await asyncio.sleep(0)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert inner.cancelled()
