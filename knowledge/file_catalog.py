"""The embedded default catalog: files beside the index, shared by the processes of one machine.

``manifest.json`` names the live version (and its epoch), ``versions/v<N>.json``
is the snapshot of version N, ``releases/v<N>.json`` its release record. Every
file is replaced atomically (write a temporary file, fsync, rename), so a
reader sees the old content or the new. Writers take ``publish.lock`` (flock)
for a whole publish, so processes sharing the directory publish one at a time
and each one's new number is the highest so far plus one; the manifest's
compare-and-set takes its own short lock.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from knowledge.catalog import CatalogConflict, Live


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step: a reader sees the old file or the new one."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


@contextmanager
def _flock(path: Path) -> Iterator[None]:
    """Exclusive across every open of ``path`` (other processes, other threads): blocks until free."""
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


class FileCatalog:
    """:class:`~knowledge.catalog.VersionCatalog` in ``index_dir`` on the local file system."""

    def __init__(self, index_dir: Path) -> None:
        self._dir = Path(index_dir)
        (self._dir / "versions").mkdir(parents=True, exist_ok=True)
        (self._dir / "releases").mkdir(parents=True, exist_ok=True)

    def _manifest(self) -> Path:
        return self._dir / "manifest.json"

    def _snapshot(self, version: int) -> Path:
        return self._dir / "versions" / f"v{version}.json"

    def _release(self, version: int) -> Path:
        return self._dir / "releases" / f"v{version}.json"

    def live(self) -> Live | None:
        text = _read(self._manifest())
        if text is None:
            return None
        data = json.loads(text)
        return Live(int(data["active_version"]), int(data.get("epoch", 0)))

    def activate(self, version: int, expected: Live | None) -> Live:
        with _flock(self._dir / "manifest.lock"):
            current = self.live()
            if current != expected:
                raise CatalogConflict(f"the live version moved to {current} (expected {expected})", current)
            live = Live(version, (current.epoch if current is not None else 0) + 1)
            write_atomically(self._manifest(), json.dumps({"active_version": version, "epoch": live.epoch}))
        return live

    def claim_version(self) -> int:
        return max(self.versions(), default=0) + 1

    def versions(self) -> list[int]:
        return sorted(int(p.stem[1:]) for p in (self._dir / "versions").glob("v*.json"))

    def put_snapshot(self, version: int, text: str) -> None:
        write_atomically(self._snapshot(version), text)

    def snapshot(self, version: int) -> str | None:
        return _read(self._snapshot(version))

    def put_release(self, version: int, record: str, source: str) -> None:
        payload = {"release": json.loads(record), "source": json.loads(source)}
        write_atomically(self._release(version), json.dumps(payload))

    def release(self, version: int) -> str | None:
        text = _read(self._release(version))
        return None if text is None else json.dumps(json.loads(text)["release"])

    def release_source(self, version: int) -> str | None:
        text = _read(self._release(version))
        return None if text is None else json.dumps(json.loads(text)["source"])

    def forget(self, version: int) -> None:
        self._snapshot(version).unlink(missing_ok=True)
        self._release(version).unlink(missing_ok=True)

    @contextmanager
    def writer(self) -> Iterator[None]:
        with _flock(self._dir / "publish.lock"):
            yield
