"""An Embedder that remembers vectors by text hash, so re-publishing re-embeds only new text."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from knowledge.embeddings import Embedder, Vectors


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class CachingEmbedder(Embedder):
    """Same vectors as :class:`Embedder`; at most ``max_entries`` kept, least recently used dropped."""

    def __init__(self, spec: str, *, batch_size: int = 64, max_entries: int = 200_000) -> None:
        super().__init__(spec, batch_size=batch_size)
        self._cache: OrderedDict[bytes, Vectors] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._max = max_entries

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return super().embed([])
        keys = [_key(t) for t in texts]
        found: dict[bytes, Vectors] = {}
        with self._cache_lock:
            for k in keys:
                if k in self._cache:
                    self._cache.move_to_end(k)
                    found[k] = self._cache[k]
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
        if missing:
            fresh = super().embed(list(missing.values()))
            with self._cache_lock:
                for k, vector in zip(missing, fresh, strict=True):
                    found[k] = self._cache[k] = vector
                while len(self._cache) > self._max:
                    self._cache.popitem(last=False)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)
