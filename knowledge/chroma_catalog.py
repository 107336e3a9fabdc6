"""The catalog of a Chroma server, shared by every worker on every machine that uses the server.

It is one collection, ``<prefix>_meta``, of small records (each carries a
dummy one-number vector, which Chroma requires and nobody queries):

- ``live:<epoch>``: the activation of one version (metadata ``version``, ``epoch``);
  the live version is the one of the highest epoch;
- ``claim:<N>``: version number N is taken;
- ``snapshot:<N>``: the knowledge graph version N was built from (zlib + base64 in
  the metadata ``payload``), written when the version's collection is complete;
- ``release:<N>``: the release record (the document, JSON) and the edited source (``payload``).

Claims and activations are *first writer wins*: a Chroma server (1.5.9,
``chroma run``) ignores an ``add`` whose id already exists and applies each
write before it answers, so a writer adds its record carrying a fresh token and
reads the record back: if the token is its own it won, else somebody else holds
that id. An activation adds ``live:<e+1>`` after reading ``e`` as the highest
epoch: one record written in one step (a reader sees the old live version or the
new one), and of two writers that read the same epoch exactly one gets it.
"""

from __future__ import annotations

import base64
import uuid
import zlib
from contextlib import AbstractContextManager, nullcontext
from typing import Any, cast

import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.api.types import Metadata, Where

from knowledge.catalog import CatalogConflict, Live

CLAIM_ATTEMPTS = 64
_VECTOR = np.ones((1, 1), np.float32)  # every record carries it: Chroma stores a vector per record


def _pack(text: str) -> str:
    return base64.b64encode(zlib.compress(text.encode("utf-8"), 6)).decode("ascii")


def _unpack(payload: Any) -> str:
    return zlib.decompress(base64.b64decode(str(payload))).decode("utf-8")


class ChromaCatalog:
    """:class:`~knowledge.catalog.VersionCatalog` in the ``<prefix>_meta`` collection of a Chroma server."""

    def __init__(self, client: ClientAPI, prefix: str) -> None:
        self._meta: Collection = client.get_or_create_collection(
            f"{prefix}_meta", embedding_function=None, metadata={"digital_teller": "version catalog"}
        )
        self._epoch_seen = 0  # only ever an epoch that exists, so `live()` may start its search there

    # -- first writer wins -----------------------------------------------------------------------
    def _claim(self, record_id: str, metadata: dict[str, str | int]) -> bool:
        """Add ``record_id`` unless it exists; True when this call's record is the one stored."""
        token = uuid.uuid4().hex
        self._meta.add(ids=[record_id], embeddings=_VECTOR, metadatas=[{**metadata, "token": token}])
        stored = self._meta.get(ids=[record_id], include=["metadatas"])["metadatas"] or []
        return bool(stored) and stored[0].get("token") == token

    def _numbers(self, kind: str) -> list[int]:
        ids = self._meta.get(where={"kind": kind}, include=[])["ids"]
        return sorted(int(i.split(":", 1)[1]) for i in ids)

    def _metadata(self, record_id: str) -> Metadata | None:
        found = self._meta.get(ids=[record_id], include=["metadatas"])["metadatas"] or []
        return found[0] if found else None

    # -- the live version ------------------------------------------------------------------------
    def live(self) -> Live | None:
        where = cast("Where", {"$and": [{"kind": "live"}, {"epoch": {"$gte": self._epoch_seen}}]})
        found = self._meta.get(where=where, include=["metadatas"])["metadatas"] or []
        if not found:
            return None
        newest = max(found, key=lambda m: int(str(m["epoch"])))
        live = Live(int(str(newest["version"])), int(str(newest["epoch"])))
        self._epoch_seen = max(self._epoch_seen, live.epoch)
        return live

    def activate(self, version: int, expected: Live | None) -> Live:
        current = self.live()
        if current != expected:
            raise CatalogConflict(f"the live version moved to {current} (expected {expected})", current)
        epoch = (current.epoch if current is not None else 0) + 1
        if not self._claim(f"live:{epoch}", {"kind": "live", "epoch": epoch, "version": version}):
            now = self.live()
            raise CatalogConflict(f"another writer made {now} live first", now)
        self._epoch_seen = max(self._epoch_seen, epoch)
        return Live(version, epoch)

    # -- version numbers -------------------------------------------------------------------------
    def claim_version(self) -> int:
        number = max(self._numbers("claim"), default=0) + 1
        for _ in range(CLAIM_ATTEMPTS):
            if self._claim(f"claim:{number}", {"kind": "claim", "version": number}):
                return number
            number += 1  # another writer took it between our read and our add
        raise CatalogConflict(f"could not claim a version number in {CLAIM_ATTEMPTS} attempts")

    def versions(self) -> list[int]:
        return self._numbers("snapshot")

    # -- snapshots and releases ------------------------------------------------------------------
    def put_snapshot(self, version: int, text: str) -> None:
        self._meta.upsert(
            ids=[f"snapshot:{version}"],
            embeddings=_VECTOR,
            metadatas=[{"kind": "snapshot", "version": version, "payload": _pack(text)}],
        )

    def snapshot(self, version: int) -> str | None:
        found = self._metadata(f"snapshot:{version}")
        return None if found is None else _unpack(found["payload"])

    def put_release(self, version: int, record: str, source: str) -> None:
        self._meta.upsert(
            ids=[f"release:{version}"],
            embeddings=_VECTOR,
            documents=[record],
            metadatas=[{"kind": "release", "version": version, "payload": _pack(source)}],
        )

    def release(self, version: int) -> str | None:
        found = self._meta.get(ids=[f"release:{version}"], include=["documents"])["documents"] or []
        return found[0] if found else None

    def release_source(self, version: int) -> str | None:
        found = self._metadata(f"release:{version}")
        return None if found is None else _unpack(found["payload"])

    def forget(self, version: int) -> None:
        self._meta.delete(ids=[f"snapshot:{version}", f"release:{version}"])

    def writer(self) -> AbstractContextManager[None]:
        return nullcontext()
