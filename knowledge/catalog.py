"""Where the knowledge versions are recorded: which one is live, each one's snapshot, its release.

The vectors of a version live in its Chroma collection; everything else about
it lives in a :class:`VersionCatalog`. The embedded default keeps the catalog
in files beside the index (:mod:`knowledge.file_catalog`); with a Chroma server
every worker on every machine reads one catalog kept in the server itself
(:mod:`knowledge.chroma_catalog`).

The live version changes only by :meth:`VersionCatalog.activate`, a
compare-and-set: each activation is the next *epoch*, written in one atomic
step, and only if the live version is still the one the writer read. Of two
writers that read the same live version, one wins and the other gets
:class:`CatalogConflict`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Live:
    """The live version and the epoch that made it live (every publish or rollback is the next epoch)."""

    version: int
    epoch: int


class CatalogConflict(RuntimeError):
    """Another writer changed the catalog first (the live version, or a claimed version number)."""

    retryable = True

    def __init__(self, message: str, live: Live | None = None) -> None:
        super().__init__(message)
        self.live = live


class VersionCatalog(Protocol):
    """The live version, the snapshot of each complete version, and the release records."""

    def live(self) -> Live | None:
        """The live version, or None before the first activation."""
        ...

    def activate(self, version: int, expected: Live | None) -> Live:
        """Make ``version`` live in one atomic write if ``expected`` is still live; else CatalogConflict."""
        ...

    def claim_version(self) -> int:
        """A new version number that no other writer gets."""
        ...

    def versions(self) -> list[int]:
        """The versions with a snapshot (complete ones), ascending."""
        ...

    def put_snapshot(self, version: int, text: str) -> None:
        """Store the knowledge graph ``version`` was built from: the mark that it is complete."""
        ...

    def snapshot(self, version: int) -> str | None: ...

    def put_release(self, version: int, record: str, source: str) -> None:
        """Store who published ``version`` (``record``) and the knowledge as edited (``source``)."""
        ...

    def release(self, version: int) -> str | None: ...

    def release_source(self, version: int) -> str | None: ...

    def forget(self, version: int) -> None:
        """Delete the snapshot and release of a version that is not live."""
        ...

    def writer(self) -> AbstractContextManager[None]:
        """Held around a publish or rollback: the file catalog lets one process in at a time; the
        server catalog lets writers race and turns the loser away at :meth:`activate`."""
        ...
