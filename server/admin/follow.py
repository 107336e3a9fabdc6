"""Serve what the shared catalog says is live: publishes and rollbacks made by another worker.

Workers share the catalog: files beside the index on one machine, or the Chroma
server (``knowledge.chroma_url``) across machines. Each one reads the catalog
every ``FOLLOW_INTERVAL_S`` (a small file, or two small ``get``s on the server's
catalog collection). Opening a retriever (the version's vectors and snapshot)
takes seconds on a busy machine, so a follower does it *before* the version goes
live: a publish writes the version's snapshot, then runs the regression gate,
then activates it; as soon as a follower sees a complete version newer than the
one it serves, it opens a retriever on it and keeps it ready (*staged*). When
the catalog then names that version live, the swap is immediate. A version the
gate turned away disappears from the catalog and its staged retriever is
dropped; a rollback to an older version opens that one when it goes live.

A publish in this process swaps at once; the Brain's swap lock
(:meth:`Brain.swapping`) orders it against the follower so the Brain always ends
on the version the catalog names last.
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

FOLLOW_INTERVAL_S = 0.4
_TRANSIENT = (OSError, ValueError, RuntimeError, ChromaError, httpx.HTTPError)


def activate_and_serve(runtime: Runtime, retriever: Retriever, expected: Live | None) -> Live:
    """Make the retriever's version live if ``expected`` still is (else ``CatalogConflict``), and serve it."""
    with runtime.brain.swapping() as swap:
        live = runtime.index.activate_if(retriever.version, expected)
        swap(retriever)
    freeze_long_lived()  # the new version's objects join the frozen heap
    return live


class VersionFollower:
    """Keeps one process's Brain on the catalog's live version, with the next version staged."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._failing = False
        self._staged: Retriever | None = None

    @property
    def staged_version(self) -> int | None:
        return None if self._staged is None else self._staged.version

    def check(self) -> int | None:
        """Swap when the catalog names another version; return the version swapped to, if any.

        Between swaps, stage the newest complete version above the served one.
        """
        index, brain = self._runtime.index, self._runtime.brain
        active = index.active_version()
        if active is None or active == brain.retriever.version:
            if active is not None:
                self._stage(active)
            return None
        staged, self._staged = self._staged, None
        retriever = staged if staged is not None and staged.version == active else None
        if retriever is None:
            retriever = open_retriever(index, self._runtime.settings, active)
        with brain.swapping() as swap:
            if index.active_version() != active:
                return None  # moved again while we opened it; the next check follows
            swap(retriever)
        freeze_long_lived()  # the new version's objects join the frozen heap
        log.info(
            "knowledge version followed",
            extra={"version": active, "staged": retriever is staged},
        )
        return active

    def _stage(self, active: int) -> None:
        index = self._runtime.index
        complete = index.versions()
        newest = max(complete, default=active)
        if self._staged is not None and self._staged.version <= active:
            self._staged = None  # served already (published in this process) or passed by
        if self._staged is not None and self._staged.version not in complete:
            log.info("staged knowledge version withdrawn", extra={"version": self._staged.version})
            self._staged = None
        if newest <= active or self.staged_version == newest:
            return
        self._staged = open_retriever(index, self._runtime.settings, newest)
        log.info("knowledge version staged", extra={"version": newest})

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
