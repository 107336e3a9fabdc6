"""MiniLM sentence embeddings with onnxruntime: an ONNX export made once, then loaded by path.

The transformer of a local sentence-transformers model is exported once with
``torch.onnx.export`` into ``<cache_dir>/sentence-onnx-<key>/`` (the key hashes
the model files' names, sizes and times and the export format, so a new model
gets a new export). The exported graph is fused with onnxruntime's transformer
optimizer (one Attention, SkipLayerNormalization and BiasGelu op per layer: the
same arithmetic in fewer, thread-parallel kernels). The export is verified
against the torch model on fixed sentences before a ``.verified`` stamp is
written; without the stamp the export is not used. Tokenisation is the model's
own fast tokenizer (``tokenizers``); mean pooling and L2 normalisation happen in
numpy, as sentence-transformers does them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

EXPORT_TOLERANCE = 1e-4
_VERIFY_SENTENCES = (
    "my card has not arrived yet",
    "Why was I charged a fee when I took out cash abroad last week?",
    "hi",
    "How long does a transfer from another bank take to show up in my account, and can I speed it up?",
)
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
EXPORT_FORMAT = "fused-1"  # part of the cache key: a new format makes a new export


class OnnxExportError(RuntimeError):
    """The ONNX export could not be made or does not match the torch model."""

    retryable = False


def _model_key(model_dir: Path) -> str:
    digest = hashlib.blake2b(digest_size=8)
    digest.update(f"{EXPORT_FORMAT}:{model_dir.resolve()}".encode())
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(model_dir)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def max_seq_length(model_dir: Path, default: int = 256) -> int:
    config = model_dir / "sentence_bert_config.json"
    if not config.exists():
        return default
    return int(json.loads(config.read_text(encoding="utf-8")).get("max_seq_length", default))


def _export(model_dir: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager", local_files_only=True)
    model.eval()

    class _LastHiddenState(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.inner(
                input_ids=ids, attention_mask=mask, token_type_ids=types
            ).last_hidden_state
            return out

    example = torch.ones((2, 8), dtype=torch.long)
    axes = {"0": "batch", "1": "tokens"}
    dynamic = {name: {0: axes["0"], 1: axes["1"]} for name in (*_INPUTS, "last_hidden_state")}
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about Python control flow in the attention code; the
        # export is checked against the torch model right after, not trusted.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _LastHiddenState(model),
            (example, example, torch.zeros_like(example)),
            str(target),
            dynamo=False,
            input_names=list(_INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes=dynamic,
            opset_version=17,
        )


def _fuse(model_dir: Path, plain: Path, target: Path) -> None:
    """``plain`` with each BERT layer's ops fused (attention, skip + layer norm, bias + GELU)."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    fused = optimize_model(
        str(plain),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
        opt_level=0,  # graph fusions only; onnxruntime applies its own when loading
    )
    fused.save_model_to_file(str(target))


def _torch_reference(model_dir: Path, texts: Sequence[str]) -> Vectors:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    vectors = model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
    result: Vectors = np.asarray(vectors, dtype=np.float32)
    return result


def ensure_onnx_model(model_dir: Path, cache_dir: Path) -> Path:
    """The verified ONNX export of ``model_dir`` under ``cache_dir``, made now if missing."""
    target = Path(cache_dir) / f"sentence-onnx-{_model_key(model_dir)}"
    model = target / "model.onnx"
    stamp = target / ".verified"
    if stamp.exists() and model.exists():
        return model
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    target.mkdir(parents=True, exist_ok=True)
    plain = target / f"model.onnx.plain-{os.getpid()}"
    partial = target / f"model.onnx.partial-{os.getpid()}"
    try:
        try:
            _export(model_dir, plain)
            _fuse(model_dir, plain, partial)
            encoder = OnnxEncoder(partial, model_dir)
            produced = encoder.encode(_VERIFY_SENTENCES)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise OnnxExportError(f"could not export {model_dir} to ONNX: {exc}") from exc
        error = float(np.abs(produced - _torch_reference(model_dir, _VERIFY_SENTENCES)).max())
        if error > EXPORT_TOLERANCE:
            raise OnnxExportError(f"ONNX export differs from the torch model by {error:.2e}")
        partial.replace(model)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        plain.unlink(missing_ok=True)
    stamp.write_text(json.dumps({"max_abs_error": error, "model_dir": str(model_dir)}), encoding="utf-8")
    log.info("onnx embedding model exported", extra={"path": str(model), "max_abs_error": error})
    return model


def clear_cache(cache_dir: Path) -> None:
    """Remove every ONNX export under ``cache_dir`` (they are rebuilt on next use)."""
    for path in Path(cache_dir).glob("sentence-onnx-*"):
        shutil.rmtree(path)


class OnnxEncoder:
    """Tokenise, run the exported transformer, mean-pool and normalise. Thread-safe.

    ``threads`` intra-op threads share one call's work; they sleep between calls
    instead of spinning, so an idle encoder takes no CPU from the voice sessions."""

    def __init__(self, onnx_path: Path, model_dir: Path, *, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_seq_length(model_dir))
        self._tokenizer.no_padding()
        dim = self._session.get_outputs()[0].shape[-1]
        self.dimension = int(dim) if isinstance(dim, int) else int(self.encode(["dimension"]).shape[1])

    def encode(self, texts: Sequence[str]) -> Vectors:
        """One batch, padded to its longest text."""
        encodings = self._tokenizer.encode_batch(list(texts))
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        result: Vectors = (pooled / norms).astype(np.float32)
        return result
