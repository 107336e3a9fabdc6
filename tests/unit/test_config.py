"""Configuration from YAML, an overlay file and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import AnswerMode, load_settings


def test_defaults_come_from_configs_default_yaml() -> None:
    settings = load_settings()
    assert settings.server.port == 8000
    assert settings.brain.mode is AnswerMode.APPROVED
    assert settings.knowledge.embedding_model.startswith("package:")


def test_environment_overrides_nested_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELLER_BRAIN__ANSWER_THRESHOLD", "0.66")
    monkeypatch.setenv("TELLER_SECRET_KEY", "s3cret")
    settings = load_settings()
    assert settings.brain.answer_threshold == 0.66
    assert settings.secret_key is not None and settings.secret_key.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_overlay_file_is_deep_merged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    overlay = tmp_path / "site.yaml"
    overlay.write_text("brain:\n  retrieval:\n    lexical: 0.3\nstore:\n  url: sqlite:///x.db\n")
    monkeypatch.setenv("TELLER_CONFIG", str(overlay))
    settings = load_settings()
    assert settings.brain.retrieval.lexical == 0.3
    assert settings.brain.retrieval.dense == 1.0
    assert settings.store.url == "sqlite:///x.db"


def test_secrets_in_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("secret_key: oops\n")
    monkeypatch.setenv("TELLER_CONFIG", str(overlay))
    with pytest.raises(ValueError, match="secrets belong in the environment"):
        load_settings()


def test_production_example_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "TELLER_CONFIG", str(Path(__file__).resolve().parents[2] / "configs" / "production.yaml")
    )
    settings = load_settings()
    assert settings.store.url.startswith("postgresql")
