"""Serve what the shared manifest says is live: publishes and rollbacks made by another replica.

Replicas share the index directory (manifest, snapshots, release records) and
the Chroma store (a server by ``knowledge.chroma_url`` across machines). Each
one reads the manifest's live version about once a second (a tiny JSON file)
and, when it differs from the version its Brain serves, opens a retriever on
that version and swaps it in. A publish in this process swaps at once; the
Brain's swap lock (:meth:`Brain.swapping`) orders it against the follower so
the Brain always ends on the version the manifest names last.
"""

from __future__ import annotations

import asyncio
import logging

from knowledge.retrieval import Retriever
from server.heap import freeze_long_lived
from server.runtime import Runtime, open_retriever

log = logging.getLogger(__name__)

FOLLOW_INTERVAL_S = 1.0


def activate_and_serve(runtime: Runtime, retriever: Retriever) -> None:
    """Point the manifest at the retriever's version and serve it, as one step."""
    with runtime.brain.swapping() as swap:
        runtime.index.activate(retriever.version)
        swap(retriever)
    freeze_long_lived()  # the new version's objects join the frozen heap


class VersionFollower:
    """Keeps one process's Brain on the manifest's live version."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def check(self) -> int | None:
        """Swap when the manifest names another version; return the version swapped to, if any."""
        index, brain = self._runtime.index, self._runtime.brain
        active = index.active_version()
        if active is None or active == brain.retriever.version:
            return None
        retriever = open_retriever(index, self._runtime.settings, active)
        with brain.swapping() as swap:
            if index.active_version() != active:
                return None  # moved again while we opened it; the next check follows
            swap(retriever)
        freeze_long_lived()  # the new version's objects join the frozen heap
        log.info("knowledge version followed", extra={"version": active})
        return active

    async def run(self, interval_s: float = FOLLOW_INTERVAL_S) -> None:
        """Check forever (until cancelled); a failed check is logged and retried next tick."""
        while True:
            try:
                await asyncio.to_thread(self.check)
            except (OSError, ValueError, RuntimeError):
                log.exception("could not follow the live knowledge version")
            await asyncio.sleep(interval_s)
