"""Exact similarity of a query to the questions of chosen problems, in memory.

Chroma's approximate search (HNSW) finds the candidate problems; this scores
each candidate on all of its questions exactly. The vectors come from the
version's Chroma collection (the source of truth) and are held as one float32
matrix whose rows are grouped by problem, so a candidate costs one small slice,
and the problems of one product (consecutive positions) one contiguous block.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from knowledge.embeddings import Vectors

Scores = npt.NDArray[np.float32]


class DenseMatrix:
    """Question vectors grouped by problem position; ``problems`` rows of similarity per query."""

    def __init__(self, owners: Sequence[int], vectors: Vectors, problems: int) -> None:
        owner = np.asarray(owners, dtype=np.int64)
        order = np.argsort(owner, kind="stable")
        self._matrix: Vectors = np.ascontiguousarray(vectors[order], dtype=np.float32)
        owner = owner[order]
        self._owner = owner
        self.problems = problems
        counts = np.bincount(owner, minlength=problems)
        self._starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        self._ends = self._starts + counts

    @property
    def rows(self) -> int:
        return int(self._matrix.shape[0])

    def similarity(self, vector: Vectors, position: int, top_k: int, top_mean: float) -> tuple[float, float]:
        """``(best, blended)`` for one problem: its best question's cosine similarity, and
        ``(1 - top_mean) × best + top_mean × mean of its top_k best`` (-1 without questions)."""
        own: Scores = self._matrix[self._starts[position] : self._ends[position]] @ vector
        if own.size == 0:
            return -1.0, -1.0
        best = float(own.max())
        if top_mean <= 0 or top_k <= 1:
            return best, best
        if own.size > top_k:
            own = np.partition(own, own.size - top_k)[own.size - top_k :]
        return best, (1 - top_mean) * best + top_mean * float(own.mean())

    def nearest(self, vector: Vectors, first: int, stop: int) -> int | None:
        """The problem among positions ``first`` to ``stop - 1`` that holds the question most
        similar to ``vector`` (None when they hold none); one contiguous block of rows."""
        if first < 0 or stop > self.problems:
            raise IndexError(f"positions {first}..{stop - 1} outside 0..{self.problems - 1}")
        if first >= stop:
            return None
        low, high = int(self._starts[first]), int(self._ends[stop - 1])
        if high <= low:
            return None
        row = low + int(np.argmax(self._matrix[low:high] @ vector))
        return int(self._owner[row])
