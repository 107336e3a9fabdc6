"""Publish a draft as a new knowledge version behind the regression gate; roll back to any version.

The new version's collection is built completely while the old one serves;
only after the gate passes does the manifest point at it and the Brain swap
to a retriever on it, so a live session sees the old version or the new one,
never a half-built index.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass

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


class Publisher:
    """One publish or rollback at a time per process."""

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
        with self._lock:
            indexed, held = split_holdout(kb, admin.holdout_percent)
            version = max(index.versions(), default=0) + 1
            index.build(indexed, version)
            try:
                candidate = open_retriever(index, settings, version)
                report = run_gate(
                    candidate, self._runtime.brain.retriever, held + golden, admin.max_accuracy_drop
                )
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
            index.activate(version)
            self._runtime.brain.use_retriever(candidate)
            log.info("knowledge published", extra={"version": version})
            return Published(version, report)

    def rollback(self, version: int) -> None:
        settings = self._runtime.settings
        index = self._runtime.index
        with self._lock:
            retriever = open_retriever(index, settings, version)
            index.activate(version)
            self._runtime.brain.use_retriever(retriever)
            log.info("knowledge rolled back", extra={"version": version})
