"""Publish a draft as a new knowledge version behind the regression gate; roll back to any version.

The new version's collection is built completely while the old one serves;
only after the gate passes does the manifest point at it and the Brain swap
to a retriever on it, so a live session sees the old version or the new one,
never a half-built index. Replicas sharing the index directory publish one at
a time (a file lock beside the manifest), so two never claim the same number.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from knowledge.retrieval import Retriever
from knowledge.schema import KnowledgeBase
from knowledge.versions import (
    GateReport,
    RegressionQuestion,
    Release,
    ReleaseLog,
    now_iso,
    run_gate,
    split_holdout,
)
from server.admin.follow import activate_and_serve
from server.runtime import Runtime, open_retriever

log = logging.getLogger(__name__)


class PublishBlocked(RuntimeError):
    """The regression gate failed; the live version is unchanged."""

    def __init__(self, report: GateReport) -> None:
        super().__init__(report.summary())
        self.report = report


@dataclass(frozen=True)
class Published:
    version: int
    report: GateReport


@contextmanager
def _replica_lock(index_dir: Path) -> Iterator[None]:
    """Exclusive across the processes sharing ``index_dir`` (blocks until the other one is done)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / "publish.lock").open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class Publisher:
    """One publish or rollback at a time, across the replicas sharing the index directory."""

    def __init__(self, runtime: Runtime, releases: ReleaseLog) -> None:
        self._runtime = runtime
        self._releases = releases
        self._lock = threading.Lock()

    def publish(
        self,
        kb: KnowledgeBase,
        golden: list[RegressionQuestion],
        actor: str,
        reviewer: str | None,
        note: str = "",
    ) -> Published:
        settings = self._runtime.settings
        admin = settings.admin
        index = self._runtime.index
        with self._lock, _replica_lock(settings.knowledge.index_dir):
            indexed, held = split_holdout(kb, admin.holdout_percent)
            version = max(index.versions(), default=0) + 1
            index.build(indexed, version)
            try:
                candidate = open_retriever(index, settings, version)
                report = run_gate(candidate, self._live(), held + golden, admin.max_accuracy_drop)
            except BaseException:
                index.drop(version)
                raise
            if not report.passed:
                index.drop(version)
                log.info("publish blocked by the regression gate", extra={"misses": len(report.misses)})
                raise PublishBlocked(report)
            gate = {k: v for k, v in asdict(report).items() if k != "misses"} | {"misses": len(report.misses)}
            self._releases.record(
                Release(version, actor, reviewer, now_iso(), admin.holdout_percent, gate, note), kb
            )
            activate_and_serve(self._runtime, candidate)
            log.info("knowledge published", extra={"version": version})
            return Published(version, report)

    def _live(self) -> Retriever | None:
        """The version the manifest names (another replica may have published it moments ago)."""
        served = self._runtime.brain.retriever
        active = self._runtime.index.active_version()
        if active is None or active == served.version:
            return served
        return open_retriever(self._runtime.index, self._runtime.settings, active)

    def rollback(self, version: int) -> None:
        settings = self._runtime.settings
        index = self._runtime.index
        with self._lock, _replica_lock(settings.knowledge.index_dir):
            activate_and_serve(self._runtime, open_retriever(index, settings, version))
            log.info("knowledge rolled back", extra={"version": version})
