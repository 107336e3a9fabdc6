"""The composition root: settings in, the running parts of one process out."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from knowledge.embeddings import Embedder
from knowledge.index import IndexNotBuiltError, KnowledgeIndex, make_client
from knowledge.loader import load_knowledge_base
from knowledge.retrieval import Retriever
from server.blas import single_threaded_blas
from server.brain.brain import Brain
from server.brain.llm import ChatClient, GenerativeWriter, llm_config
from server.brain.memory import MemoryStore
from server.brain.policy import PolicyConfig
from server.config import AnswerMode, Settings
from server.store.audit import settings_audit_key
from server.store.store import Store

log = logging.getLogger(__name__)


def open_index(settings: Settings, embedder: Embedder | None = None) -> KnowledgeIndex:
    ks = settings.knowledge
    embedder = embedder or Embedder(
        ks.embedding_model,
        batch_size=ks.embedding_batch_size,
        backend=ks.embedding_backend,
        cache_dir=ks.embedding_cache_dir,
        threads=ks.embedding_threads,
    )
    return KnowledgeIndex(
        make_client(ks.index_dir, ks.chroma_url), embedder, ks.index_dir, ks.collection_prefix
    )


def build_knowledge(index: KnowledgeIndex, settings: Settings) -> int:
    """Build the configured source knowledge as a new version and make it live."""
    kb = load_knowledge_base(settings.knowledge.source_dir)
    version = index.build(kb)
    index.activate(version)
    log.info("knowledge built", extra={"version": version, "problems": len(kb.problem_refs())})
    return version


def open_retriever(index: KnowledgeIndex, settings: Settings, version: int | None = None) -> Retriever:
    version = version if version is not None else index.active_version()
    if version is None:
        raise IndexNotBuiltError("no knowledge version is live: run `teller kb build` first")
    return Retriever(
        index.snapshot(version),
        version,
        index,
        weights=settings.brain.retrieval,
        dense_top_k=settings.knowledge.dense_top_k,
        alternative_gap=settings.brain.generic_word_gap,
    )


def policy_config(settings: Settings) -> PolicyConfig:
    b = settings.brain
    return PolicyConfig(
        answer_threshold=b.answer_threshold,
        clarify_min_confidence=b.clarify_min_confidence,
        clarify_margin=b.clarify_margin,
        generic_word_gap=b.generic_word_gap,
        low_confidence_handoff_after=b.low_confidence_handoff_after,
        check_domain=b.check_domain,
        check_concepts=b.check_concepts,
        unanchored_min_confidence=b.unanchored_min_confidence,
        own_data_min_confidence=b.own_data_min_confidence,
    )


@dataclass
class Runtime:
    settings: Settings
    index: KnowledgeIndex
    brain: Brain
    store: Store
    writer: GenerativeWriter | None = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.client.close()
        self.store.close()


def open_runtime(
    settings: Settings, *, build_if_missing: bool = False, embedder: Embedder | None = None
) -> Runtime:
    single_threaded_blas()
    index = open_index(settings, embedder)
    if index.active_version() is None and build_if_missing:
        build_knowledge(index, settings)
    writer = None
    if settings.brain.mode == AnswerMode.GENERATIVE:
        writer = GenerativeWriter(ChatClient(llm_config(settings)), history_turns=settings.llm.history_turns)
    retriever = open_retriever(index, settings)
    retriever.retrieve("warm up the embedding model and the index")
    brain = Brain(
        retriever,
        policy_config(settings),
        MemoryStore(max_turns=settings.brain.memory_turns),
        writer,
    )
    store = Store.from_url(settings.store.url, audit_key=settings_audit_key(settings))
    return Runtime(settings=settings, index=index, brain=brain, store=store, writer=writer)
