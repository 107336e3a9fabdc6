"""Hybrid retrieval: dense (Chroma) + BM25 + graph constraints, one calibrated confidence.

Candidates are the problems of the dense top-k questions (Chroma) and the BM25
top hits. Dense similarity of a candidate = ``(1 - top_mean)`` × its best
question's cosine similarity + ``top_mean`` × the mean of its ``top_k`` best
(several close neighbours count more than one lucky one), computed exactly on
all of its questions in memory (:mod:`knowledge.dense`). Score = ``dense`` × that +
``lexical`` × BM25 relative to the best BM25 hit + ``entity`` when a product the
customer named owns the problem. Confidence is a logistic function of the best
dense similarity and the margin to the runner-up, with coefficients fitted by
``bench/calibrate.py`` and kept in ``configs/``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict

from knowledge.concepts import ConceptCheck
from knowledge.dense import DenseMatrix
from knowledge.embeddings import Vectors
from knowledge.index import KnowledgeIndex
from knowledge.lexical import LexicalIndex
from knowledge.lexicon import LexiconMatcher, Mention, generic_products, named_products
from knowledge.schema import KnowledgeBase, ProblemRef


class RetrievalWeights(BaseModel):
    """Weights of the hybrid score and the logistic calibration of confidence."""

    model_config = ConfigDict(frozen=True)

    dense: float = 1.0
    lexical: float = 0.15
    entity: float = 0.08
    top_mean: float = 0.5
    top_k: int = 5
    calib_bias: float = -7.871
    calib_score: float = 10.976
    calib_margin: float = 9.934


def product_spans(products: Sequence[str]) -> dict[str, tuple[int, int]]:
    """``first, stop`` positions of each product's problems, which must be consecutive (as
    :meth:`KnowledgeBase.problem_refs` lists them: product by product)."""
    spans: dict[str, tuple[int, int]] = {}
    for position, product in enumerate(products):
        first, stop = spans.get(product, (position, position))
        if stop != position:
            raise ValueError(f"the problems of product {product!r} are not consecutive")
        spans[product] = (first, position + 1)
    return spans


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
        alternative_gap: float = 0.2,
    ) -> None:
        self.kb = kb
        self.version = version
        self.weights = weights or RetrievalWeights()
        self._index = index
        self._top_k = dense_top_k
        self._alternative_gap = alternative_gap
        self.refs = kb.problem_refs()
        self._position = {ref.problem.id: n for n, ref in enumerate(self.refs)}
        self._product_of = [ref.product_id for ref in self.refs]
        self._spans = product_spans(self._product_of)
        self._lexical = LexicalIndex([" \n ".join(ref.problem.questions) for ref in self.refs])
        self.lexicon = LexiconMatcher(kb.lexicon)
        self.concepts = ConceptCheck(self.refs, self.lexicon)
        problem_ids, vectors = index.vectors(version)
        owners = [self._position.get(pid, -1) for pid in problem_ids]
        keep = np.array([o >= 0 for o in owners], dtype=bool)
        self._dense = DenseMatrix([o for o in owners if o >= 0], vectors[keep], len(self.refs))

    def ref(self, problem_id: str) -> ProblemRef | None:
        position = self._position.get(problem_id)
        return None if position is None else self.refs[position]

    def find_ref(self, problem_id: str, *, include_retired: bool = False) -> ProblemRef | None:
        """A live problem by lookup; a retired one (rare) by a walk of the version's graph."""
        found = self.ref(problem_id)
        if found is None and include_retired:
            return self.kb.find_ref(problem_id, include_retired=True)
        return found

    def retrieve(
        self,
        text: str,
        *,
        only_products: Collection[str] | None = None,
        limit: int = 5,
        mentions: Sequence[Mention] | None = None,
    ) -> Retrieval:
        """``mentions``: the lexicon words of ``text``, when the caller has found them already."""
        w = self.weights
        mentions = self.lexicon.mentions(text) if mentions is None else mentions
        named = frozenset(named_products(mentions))
        vector = self._index.embedder.embed_one(text)
        hits = self._index.query(self.version, vector, self._top_k)
        pool = {p for p in (self._position.get(h.problem_id) for h in hits) if p is not None}
        bm25 = self._lexical.scores(text)
        best_bm25 = float(bm25.max()) if bm25.size else 0.0
        if best_bm25 > 0:
            pool.update(self._lexical.top(bm25, limit))
        candidates: list[Candidate] = []
        for position in sorted(pool):  # one order for equal scores, however the pool was filled
            product = self._product_of[position]
            if only_products and product not in only_products:
                continue
            _, d = self._dense.similarity(vector, position, w.top_k, w.top_mean)
            lex = float(bm25[position]) / best_bm25 if best_bm25 > 0 else 0.0
            in_named = product in named
            score = w.dense * d + w.lexical * lex + (w.entity if in_named else 0.0)
            candidates.append(Candidate(self.refs[position], score, d, lex, in_named))
        candidates.sort(key=lambda c: c.score, reverse=True)
        floor = min((h.similarity for h in hits), default=-1.0) if len(hits) >= self._top_k else -1.0
        alternatives = (
            () if named or not candidates else self._alternatives(mentions, vector, candidates, floor)
        )
        candidates = candidates[:limit]
        return Retrieval(candidates, self.confidence(candidates), named, self.version, alternatives)

    def _alternatives(
        self, mentions: Sequence[Mention], vector: Vectors, ranked: list[Candidate], floor: float
    ) -> tuple[Candidate, ...]:
        """For a generic word ("card") the best answer under each other product it may mean.

        The candidates already scored are searched first. The product's own
        questions are searched (exactly, in memory: one contiguous block of
        rows) just when it has none among them and its best question could
        still be within ``alternative_gap`` of the best answer: every question
        it holds is at most as close as the ``floor`` (the last of the dense hits).
        """
        top = ranked[0]
        generic = generic_products(mentions)
        if top.ref.product_id not in generic:
            return ()
        found: list[Candidate] = []
        for product in sorted(generic - {top.ref.product_id}):
            mine = [c for c in ranked if c.ref.product_id == product]
            if mine:
                best = max(mine, key=lambda c: c.dense)
                found.append(Candidate(best.ref, best.dense, best.dense, 0.0, False))
                continue
            if floor < top.dense - self._alternative_gap:
                continue
            span = self._spans.get(product)
            position = self._dense.nearest(vector, *span) if span is not None else None
            if position is not None:
                _, d = self._dense.similarity(vector, position, self.weights.top_k, self.weights.top_mean)
                found.append(Candidate(self.refs[position], d, d, 0.0, False))
        return tuple(found)

    def confidence(self, candidates: Sequence[Candidate]) -> float:
        """The calibrated confidence that the first of ``candidates`` (ranked) is the answer."""
        if not candidates:
            return 0.0
        w = self.weights
        top = candidates[0]
        margin = top.score - candidates[1].score if len(candidates) > 1 else top.score
        z = w.calib_bias + w.calib_score * top.dense + w.calib_margin * margin
        return 1.0 / (1.0 + math.exp(-z))
