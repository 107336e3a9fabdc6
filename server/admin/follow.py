"""Serve what the shared catalog says is live: publishes and rollbacks made by another worker.

Workers share the catalog: files beside the index on one machine, or the Chroma
server (``knowledge.chroma_url``) across machines. Each one reads the live
version about once a second (a small file, or one small ``get`` on the server's
catalog collection) and, when it differs from the version its Brain serves,
opens a retriever on that version and swaps it in. A publish in this process
swaps at once; the Brain's swap lock (:meth:`Brain.swapping`) orders it against
the follower so the Brain always ends on the version the catalog names last.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
from chromadb.errors import ChromaError

from knowledge.catalog import Live
from knowledge.retrieval import Retriever
from server.heap import freeze_long_lived
from server.runtime import Runtime, open_retriever

log = logging.getLogger(__name__)

FOLLOW_INTERVAL_S = 1.0
_TRANSIENT = (OSError, ValueError, RuntimeError, ChromaError, httpx.HTTPError)


def activate_and_serve(runtime: Runtime, retriever: Retriever, expected: Live | None) -> Live:
    """Make the retriever's version live if ``expected`` still is (else ``CatalogConflict``), and serve it."""
    with runtime.brain.swapping() as swap:
        live = runtime.index.activate_if(retriever.version, expected)
        swap(retriever)
    freeze_long_lived()  # the new version's objects join the frozen heap
    return live


class VersionFollower:
    """Keeps one process's Brain on the catalog's live version."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._failing = False

    def check(self) -> int | None:
        """Swap when the catalog names another version; return the version swapped to, if any."""
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
        """Check forever (until cancelled); a failure is logged once and retried every tick."""
        while True:
            try:
                await asyncio.to_thread(self.check)
            except _TRANSIENT:
                if not self._failing:
                    log.exception("could not follow the live knowledge version; retrying every tick")
                self._failing = True
            else:
                if self._failing:
                    log.info("following the live knowledge version again")
                self._failing = False
            await asyncio.sleep(interval_s)
