"""Read and write a knowledge base as YAML files.

Layout of a knowledge base directory::

    kb.yaml                 # {name: ...}
    lexicon.yaml            # Lexicon
    products/<id>.yaml      # one Product each, with its scenarios and problems
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from knowledge.schema import KnowledgeBase, Lexicon, Product


class KnowledgeFormatError(ValueError):
    """A knowledge file is missing or does not match the schema."""


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except FileNotFoundError as exc:
        raise KnowledgeFormatError(f"missing knowledge file: {path}") from exc
    except yaml.YAMLError as exc:
        raise KnowledgeFormatError(f"{path}: not valid YAML: {exc}") from exc


def load_knowledge_base(directory: Path) -> KnowledgeBase:
    directory = Path(directory)
    meta = (_read_yaml(directory / "kb.yaml") if (directory / "kb.yaml").exists() else None) or {}
    product_files = sorted((directory / "products").glob("*.yaml"))
    if not product_files:
        raise KnowledgeFormatError(f"no products/*.yaml under {directory}")
    try:
        products = [Product.model_validate(_read_yaml(p)) for p in product_files]
        lexicon_path = directory / "lexicon.yaml"
        lexicon = (
            Lexicon.model_validate(_read_yaml(lexicon_path) or {}) if lexicon_path.exists() else Lexicon()
        )
        return KnowledgeBase(name=str(meta.get("name", directory.name)), products=products, lexicon=lexicon)
    except ValidationError as exc:
        raise KnowledgeFormatError(f"{directory}: {exc}") from exc


def _dump(data: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        yaml.safe_dump(data, handle, sort_keys=False, allow_unicode=True, width=100)
    tmp.replace(path)


def save_knowledge_base(kb: KnowledgeBase, directory: Path) -> None:
    """Write ``kb`` in the layout above; product files no longer in ``kb`` are removed."""
    directory = Path(directory)
    _dump({"name": kb.name}, directory / "kb.yaml")
    _dump(kb.lexicon.model_dump(mode="json", exclude_defaults=True), directory / "lexicon.yaml")
    wanted = set()
    for product in kb.products:
        path = directory / "products" / f"{product.id}.yaml"
        wanted.add(path)
        _dump(product.model_dump(mode="json", exclude_defaults=True), path)
    for stale in (directory / "products").glob("*.yaml"):
        if stale not in wanted:
            stale.unlink()
