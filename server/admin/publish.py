"""Publish a draft as a new knowledge version behind the regression gate; roll back to any version.

The new version's collection is built completely while the old one serves;
only after the gate passes does the catalog make it live and the Brain swap to
a retriever on it, so a live session sees the old version or the new one,
never a half-built index.

Making it live is a compare-and-set on the live version read when the publish
began (:meth:`KnowledgeIndex.activate_if`). Workers sharing a file catalog
publish one at a time (its writer lock), so each one starts from the other's
result. Workers on a Chroma server race instead: each claims its own version
number, and if another publish or rollback made a version live in the meantime,
this one is dropped and the editor is told (:class:`PublishConflict`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass

from knowledge.catalog import CatalogConflict, Live
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
from server.brain.brain import Brain
from server.brain.memory import MemoryStore
from server.brain.policy import Decision
from server.runtime import Runtime, open_retriever, policy_config

log = logging.getLogger(__name__)


class PublishBlocked(RuntimeError):
    """The regression gate failed; the live version is unchanged."""

    def __init__(self, report: GateReport) -> None:
        super().__init__(report.summary())
        self.report = report


class PublishConflict(RuntimeError):
    """Another publish or rollback changed the live version first; nothing of this one went live."""

    retryable = True

    def __init__(self, live: Live | None, what: str = "publish") -> None:
        now = f"v{live.version}" if live is not None else "another version"
        super().__init__(
            f"{now} was published or rolled back by someone else while this {what} was being "
            f"prepared, so nothing of it went live. Look at what is live now, then {what} again."
        )
        self.live = live


@dataclass(frozen=True)
class Published:
    version: int
    report: GateReport


class Publisher:
    """One publish or rollback at a time in this process; across workers, see the module docstring."""

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
        with self._lock, index.catalog.writer():
            base = index.live()
            indexed, held = split_holdout(kb, admin.holdout_percent)
            version = index.build(indexed)
            try:
                self._still_live(base, "publish")
                candidate = open_retriever(index, settings, version)
                report = run_gate(
                    candidate, self._live(base), held + golden, admin.max_accuracy_drop, self._answered
                )
                if not report.passed:
                    log.info("publish blocked by the regression gate", extra={"misses": len(report.misses)})
                    raise PublishBlocked(report)
                gate = {k: v for k, v in asdict(report).items() if k != "misses"}
                gate["misses"] = len(report.misses)
                self._releases.record(
                    Release(version, actor, reviewer, now_iso(), admin.holdout_percent, gate, note), kb
                )
                self._activate(candidate, base, "publish")
            except BaseException:
                if index.active_version() != version:  # not live: nothing may point at it
                    index.drop(version)
                raise
            log.info("knowledge published", extra={"version": version})
            return Published(version, report)

    def _answered(self, retriever: Retriever, text: str) -> str | None:
        """The problem the teller (its whole decision, on ``retriever``) answers ``text`` with."""
        brain = Brain(retriever, policy_config(self._runtime.settings), MemoryStore(max_sessions=1))
        reply = brain.respond("regression-gate", text)
        return reply.citations[0].problem_id if reply.decision is Decision.ANSWER else None

    def _still_live(self, base: Live | None, what: str) -> None:
        """Fail early (before the slow gate) when the live version already moved."""
        now = self._runtime.index.live()
        if now != base:
            raise PublishConflict(now, what)

    def _activate(self, retriever: Retriever, base: Live | None, what: str) -> None:
        try:
            activate_and_serve(self._runtime, retriever, base)
        except CatalogConflict as exc:
            log.info("knowledge %s lost a race", what, extra={"live": str(exc.live)})
            raise PublishConflict(exc.live, what) from exc

    def _live(self, base: Live | None) -> Retriever | None:
        """The version live when the publish began (another worker may have published it moments ago)."""
        served = self._runtime.brain.retriever
        if base is None or base.version == served.version:
            return served
        return open_retriever(self._runtime.index, self._runtime.settings, base.version)

    def rollback(self, version: int) -> None:
        settings = self._runtime.settings
        index = self._runtime.index
        with self._lock, index.catalog.writer():
            base = index.live()
            self._activate(open_retriever(index, settings, version), base, "rollback")
            log.info("knowledge rolled back", extra={"version": version})
