"""Hybrid retrieval: dense (Chroma) + BM25 + graph constraints, one calibrated confidence.

Score of a problem = ``dense`` (best cosine similarity among its questions in the
dense top-k) + ``lexical`` × BM25 relative to the best BM25 hit + ``entity`` when
a product the customer named owns the problem. Confidence is a logistic
function of the best dense similarity and the margin to the runner-up, with
coefficients fitted by ``bench/calibrate.py`` and kept in ``configs/``.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict

from knowledge.embeddings import Vectors
from knowledge.index import KnowledgeIndex
from knowledge.lexical import LexicalIndex
from knowledge.lexicon import LexiconMatcher
from knowledge.schema import KnowledgeBase, ProblemRef


class RetrievalWeights(BaseModel):
    """Weights of the hybrid score and the logistic calibration of confidence."""

    model_config = ConfigDict(frozen=True)

    dense: float = 1.0
    lexical: float = 0.15
    entity: float = 0.08
    calib_bias: float = -8.413
    calib_score: float = 11.15
    calib_margin: float = 10.965


@dataclass(frozen=True)
class Candidate:
    ref: ProblemRef
    score: float
    dense: float
    lexical: float
    named_product: bool


@dataclass(frozen=True)
class Retrieval:
    candidates: list[Candidate]
    confidence: float
    named_products: frozenset[str]
    knowledge_version: int
    alternatives: tuple[Candidate, ...] = ()

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


class Retriever:
    """Answers "which problems is this text about?" for one knowledge version."""

    def __init__(
        self,
        kb: KnowledgeBase,
        version: int,
        index: KnowledgeIndex,
        *,
        weights: RetrievalWeights | None = None,
        dense_top_k: int = 40,
    ) -> None:
        self.kb = kb
        self.version = version
        self.weights = weights or RetrievalWeights()
        self._index = index
        self._top_k = dense_top_k
        self.refs = kb.problem_refs()
        self._position = {ref.problem.id: n for n, ref in enumerate(self.refs)}
        self._product_of = np.array([ref.product_id for ref in self.refs])
        self._lexical = LexicalIndex([" \n ".join(ref.problem.questions) for ref in self.refs])
        self.lexicon = LexiconMatcher(kb.lexicon)

    def ref(self, problem_id: str) -> ProblemRef | None:
        position = self._position.get(problem_id)
        return None if position is None else self.refs[position]

    def retrieve(
        self, text: str, *, only_products: Collection[str] | None = None, limit: int = 5
    ) -> Retrieval:
        w = self.weights
        named = frozenset(self.lexicon.products(text))
        vector = self._index.embedder.embed_one(text)
        dense: dict[int, float] = {}
        for hit in self._index.query(self.version, vector, self._top_k):
            position = self._position.get(hit.problem_id)
            if position is not None and hit.similarity > dense.get(position, -1.0):
                dense[position] = hit.similarity
        bm25 = self._lexical.scores(text)
        best_bm25 = float(bm25.max()) if bm25.size else 0.0
        pool = set(dense) | set(np.argsort(-bm25)[:limit].tolist() if best_bm25 > 0 else [])
        floor = min(dense.values(), default=0.0)
        candidates: list[Candidate] = []
        for position in pool:
            product = str(self._product_of[position])
            if only_products and product not in only_products:
                continue
            d = dense.get(position, floor)
            lex = float(bm25[position]) / best_bm25 if best_bm25 > 0 else 0.0
            in_named = product in named
            score = w.dense * d + w.lexical * lex + (w.entity if in_named else 0.0)
            candidates.append(Candidate(self.refs[position], score, d, lex, in_named))
        candidates.sort(key=lambda c: c.score, reverse=True)
        candidates = candidates[:limit]
        alternatives = () if named or not candidates else self._alternatives(text, vector, candidates[0])
        return Retrieval(candidates, self._confidence(candidates), named, self.version, alternatives)

    def _alternatives(self, text: str, vector: Vectors, best: Candidate) -> tuple[Candidate, ...]:
        """For a generic word ("card") the best answer under each other product it may mean."""
        generic = self.lexicon.generic_products(text)
        if best.ref.product_id not in generic:
            return ()
        found: list[Candidate] = []
        for product in sorted(generic - {best.ref.product_id}):
            hits = self._index.query(self.version, vector, 1, product=product)
            position = self._position.get(hits[0].problem_id) if hits else None
            if position is not None:
                found.append(
                    Candidate(self.refs[position], hits[0].similarity, hits[0].similarity, 0.0, False)
                )
        return tuple(found)

    def _confidence(self, candidates: list[Candidate]) -> float:
        if not candidates:
            return 0.0
        w = self.weights
        top = candidates[0]
        margin = top.score - candidates[1].score if len(candidates) > 1 else top.score
        z = w.calib_bias + w.calib_score * top.dense + w.calib_margin * margin
        return 1.0 / (1.0 + math.exp(-z))
