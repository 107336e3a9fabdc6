"""The Chroma side of the knowledge base: one collection per knowledge version.

Every question of every live problem is a record ``<problem_id>::<n>`` holding
its embedding. A version's collection is built completely, then its snapshot
(the knowledge graph it was built from) is stored in the catalog, and only then
may the catalog's live version point at it, so a reader never sees a half-built
index. The catalog (:mod:`knowledge.catalog`) is files beside an embedded
Chroma, or the Chroma server itself when the index is on a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.api.types import Documents, Embeddable, EmbeddingFunction, Embeddings, Metadata
from chromadb.config import Settings as ChromaSettings

from knowledge.catalog import CatalogConflict, Live, VersionCatalog
from knowledge.chroma_catalog import ChromaCatalog
from knowledge.embeddings import Embedder, Vectors
from knowledge.file_catalog import FileCatalog
from knowledge.schema import KnowledgeBase

ACTIVATE_ATTEMPTS = 64


class IndexNotBuiltError(RuntimeError):
    """No knowledge version has been built and activated yet."""

    retryable = False


class _ChromaEmbeddings(EmbeddingFunction[Documents]):
    """Our local embedder behind Chroma's interface, so Chroma never loads its own."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:
        return list(self._embedder.embed(list(input)))

    @staticmethod
    def name() -> str:
        return "digital-teller-local"

    def get_config(self) -> dict[str, Any]:
        return {"model": self._embedder.spec}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> _ChromaEmbeddings:
        return _ChromaEmbeddings(Embedder(str(config["model"])))

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"


def make_client(index_dir: Path, chroma_url: str | None) -> ClientAPI:
    settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        url = urlparse(chroma_url)
        return chromadb.HttpClient(
            host=url.hostname or "localhost",
            port=url.port or 8000,
            ssl=url.scheme == "https",
            settings=settings,
        )
    index_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(index_dir / "chroma"), settings=settings)


def open_catalog(client: ClientAPI, index_dir: Path, prefix: str) -> VersionCatalog:
    """The catalog for ``client``: in the Chroma server it talks to, else files in ``index_dir``."""
    if client.get_settings().chroma_api_impl == "chromadb.api.fastapi.FastAPI":  # an HttpClient
        return ChromaCatalog(client, prefix)
    return FileCatalog(index_dir)


@dataclass(frozen=True)
class Neighbour:
    problem_id: str
    similarity: float


class KnowledgeIndex:
    """Versioned Chroma collections plus the catalog that names the live one."""

    def __init__(
        self,
        client: ClientAPI,
        embedder: Embedder,
        index_dir: Path,
        prefix: str,
        catalog: VersionCatalog | None = None,
    ) -> None:
        self._client = client
        self._embedder = embedder
        self._function = cast("EmbeddingFunction[Embeddable]", _ChromaEmbeddings(embedder))
        self._prefix = prefix
        self._collections: dict[int, Collection] = {}
        self._catalog = catalog if catalog is not None else open_catalog(client, Path(index_dir), prefix)

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    @property
    def catalog(self) -> VersionCatalog:
        return self._catalog

    def collection_name(self, version: int) -> str:
        return f"{self._prefix}_v{version}"

    def versions(self) -> list[int]:
        return self._catalog.versions()

    def live(self) -> Live | None:
        return self._catalog.live()

    def active_version(self) -> int | None:
        live = self._catalog.live()
        return live.version if live is not None else None

    def snapshot(self, version: int) -> KnowledgeBase:
        text = self._catalog.snapshot(version)
        if text is None:
            raise IndexNotBuiltError(f"knowledge version {version} was never built")
        return KnowledgeBase.model_validate_json(text)

    def build(self, kb: KnowledgeBase, version: int | None = None) -> int:
        """Embed and store every question of ``kb`` as a new version (a claimed number); return it."""
        version = version if version is not None else self._catalog.claim_version()
        name = self.collection_name(version)
        self._collections.pop(version, None)
        if name in {c.name for c in self._client.list_collections()}:
            self._client.delete_collection(name)
        collection = self._client.create_collection(
            name=name,
            embedding_function=self._function,
            configuration={"hnsw": {"space": "cosine", "ef_construction": 128, "ef_search": 64}},
            metadata={"knowledge_version": version, "kb_name": kb.name},
        )
        ids: list[str] = []
        texts: list[str] = []
        metadatas: list[Metadata] = []
        for ref in kb.problem_refs():
            for n, question in enumerate(ref.problem.questions):
                ids.append(f"{ref.problem.id}::{n}")
                texts.append(question)
                metadatas.append({"product": ref.product_id})
        vectors = self._embedder.embed(texts)
        step = self._client.get_max_batch_size()
        for start in range(0, len(ids), step):
            collection.add(
                ids=ids[start : start + step],
                embeddings=vectors[start : start + step],
                metadatas=metadatas[start : start + step],
            )
        self._catalog.put_snapshot(version, kb.model_dump_json())
        return version

    def activate_if(self, version: int, expected: Live | None) -> Live:
        """Make a built version live only if ``expected`` is still live; else :class:`CatalogConflict`."""
        if version not in self._catalog.versions():
            raise IndexNotBuiltError(f"knowledge version {version} was never built")
        return self._catalog.activate(version, expected)

    def activate(self, version: int) -> Live:
        """Make a built version live, whatever is live now (a racing activation may land after it)."""
        for _ in range(ACTIVATE_ATTEMPTS):
            try:
                return self.activate_if(version, self._catalog.live())
            except CatalogConflict:
                continue  # another activation landed between our read and our write
        raise CatalogConflict(f"could not make version {version} live in {ACTIVATE_ATTEMPTS} attempts")

    def drop(self, version: int) -> None:
        """Delete a version that is not live (its collection, snapshot and release)."""
        if version == self.active_version():
            raise ValueError(f"knowledge version {version} is live and cannot be dropped")
        self._collections.pop(version, None)
        name = self.collection_name(version)
        if name in {c.name for c in self._client.list_collections()}:
            self._client.delete_collection(name)
        self._catalog.forget(version)

    def _collection(self, version: int) -> Collection:
        collection = self._collections.get(version)
        if collection is None:
            collection = self._client.get_collection(
                self.collection_name(version), embedding_function=self._function
            )
            self._collections[version] = collection
        return collection

    def vectors(self, version: int) -> tuple[list[str], Vectors]:
        """Every record of a version: the problem id of each row and the row's embedding."""
        collection = self._collection(version)
        step = self._client.get_max_batch_size()
        problem_ids: list[str] = []
        chunks: list[Vectors] = []
        offset = 0
        while True:
            page = collection.get(include=["embeddings"], limit=step, offset=offset)
            ids = page["ids"]
            if not ids:
                break
            problem_ids.extend(i.split("::", 1)[0] for i in ids)
            chunks.append(np.asarray(page["embeddings"], dtype=np.float32))
            offset += len(ids)
        dim = chunks[0].shape[1] if chunks else 0
        return problem_ids, np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)

    def query(
        self, version: int, vector: Vectors, top_k: int, *, product: str | None = None
    ) -> list[Neighbour]:
        """The ``top_k`` nearest questions, optionally only those under ``product``."""
        collection = self._collection(version)
        result = collection.query(
            query_embeddings=vector.reshape(1, -1),
            n_results=top_k,
            include=["distances"],
            where={"product": product} if product is not None else None,
        )
        ids = result["ids"][0]
        distances = (result["distances"] or [[]])[0]
        return [
            Neighbour(problem_id=i.split("::", 1)[0], similarity=1.0 - float(d))
            for i, d in zip(ids, distances, strict=True)
        ]
