"""What one racing process does: its own Chroma client and catalog, in step with the others by a barrier.

It lives in its own module so ``multiprocessing`` (spawn) can import it in the child.
"""

from __future__ import annotations

from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

from knowledge.catalog import CatalogConflict
from knowledge.chroma_catalog import ChromaCatalog
from knowledge.index import make_client

BARRIER_TIMEOUT_S = 300.0  # only so a dead partner fails the test instead of hanging it


@dataclass(frozen=True)
class Plan:
    name: int  # the version this racer makes live
    url: str
    prefix: str
    rounds: int
    claims: int


def race(plan: Plan, barrier: Barrier, results: Queue[object]) -> None:
    """Per round, read the live version, wait for the others, then try to make version ``plan.name``
    live; then claim ``plan.claims`` version numbers while the others do too. Reports to ``results``."""
    name = plan.name
    catalog = ChromaCatalog(make_client(Path("unused"), plan.url), plan.prefix)
    for round_ in range(plan.rounds):
        base = catalog.live()
        barrier.wait(BARRIER_TIMEOUT_S)
        try:
            won = catalog.activate(name, base)
        except CatalogConflict:
            results.put(("activate", round_, name, None))
        else:
            results.put(("activate", round_, name, (won.version, won.epoch)))
        barrier.wait(BARRIER_TIMEOUT_S)  # everyone has tried before the next round reads the live version
    barrier.wait(BARRIER_TIMEOUT_S)
    for _ in range(plan.claims):
        results.put(("claim", 0, name, catalog.claim_version()))
