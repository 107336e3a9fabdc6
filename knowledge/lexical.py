"""BM25 over problems: each problem's document is all of its questions."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from knowledge.text import terms

_K1 = 1.2
_B = 0.75


class LexicalIndex:
    """An inverted index with BM25 weights precomputed per (term, document)."""

    def __init__(self, documents: Sequence[str]) -> None:
        self.size = len(documents)
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths = np.zeros(self.size, dtype=np.float32)
        for doc_id, text in enumerate(documents):
            counts = Counter(terms(text))
            lengths[doc_id] = sum(counts.values())
            for term, count in counts.items():
                postings[term].append((doc_id, count))
        average = float(lengths.mean()) if self.size else 1.0
        norm = _K1 * (1 - _B + _B * lengths / max(average, 1e-9))
        self._postings: dict[str, tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]] = {}
        for term, entries in postings.items():
            ids = np.fromiter((d for d, _ in entries), dtype=np.int32, count=len(entries))
            tf = np.fromiter((c for _, c in entries), dtype=np.float32, count=len(entries))
            idf = math.log(1 + (self.size - len(entries) + 0.5) / (len(entries) + 0.5))
            self._postings[term] = (ids, (idf * tf * (_K1 + 1) / (tf + norm[ids])).astype(np.float32))

    def scores(self, query: str) -> npt.NDArray[np.float32]:
        """BM25 score of every document for ``query`` (zeros where no term matches)."""
        out = np.zeros(self.size, dtype=np.float32)
        for term in set(terms(query)):
            hit = self._postings.get(term)
            if hit is not None:
                out[hit[0]] += hit[1]
        return out

    @staticmethod
    def top(scores: npt.NDArray[np.float32], limit: int) -> list[int]:
        """The documents of the ``limit`` best positive ``scores``, best first, ties by lower id;
        without sorting every document."""
        if limit <= 0:
            return []
        hits = np.flatnonzero(scores > 0)
        if hits.size > limit:
            kth = np.partition(scores[hits], hits.size - limit)[hits.size - limit]
            hits = hits[scores[hits] >= kth]
        order = np.lexsort((hits, -scores[hits]))[:limit]
        return [int(d) for d in hits[order]]
