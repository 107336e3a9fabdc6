"""Ownership of asyncio tasks: whoever starts a task cancels it and waits for its end."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


async def cancel_and_wait(*tasks: asyncio.Task[object] | None) -> None:
    """Cancel ``tasks`` (``None`` is skipped) and wait until each has ended.

    What a task that had already finished returned or raised stays its owner's business;
    a task that fails while it is being cancelled is logged. A cancellation of the caller
    still propagates.
    """
    live = [task for task in tasks if task is not None and not task.done()]
    for task in live:
        task.cancel()
    if not live:
        return
    results = await asyncio.gather(*live, return_exceptions=True)
    for task, result in zip(live, results, strict=True):
        if isinstance(result, Exception):
            log.error("task %s failed while it was cancelled", task.get_name(), exc_info=result)
