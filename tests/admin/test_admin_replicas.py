"""Several server instances on one index directory and store: a publish or rollback in one is
served by the others (each follows the manifest's live version)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from knowledge.embedding_cache import CachingEmbedder
from server.admin.editing import ProblemForm
from server.admin.follow import FOLLOW_INTERVAL_S, VersionFollower
from server.app import create_app
from server.runtime import open_runtime
from tests.admin.conftest import SECRET, AdminEnv
from tests.servers import teller_process

QUESTION = "I lost my credit card, what do I do?"
NEW_ANSWER = "If your credit card is lost, freeze it in the app at once and order a replacement there."


# The other replica's follower ticks once a second, then loads the version: on a loaded machine
# that load alone can take many seconds, so the wait is generous (it ends as soon as it is served).
FOLLOW_WAIT_S = 120 * FOLLOW_INTERVAL_S


def _serves(client: TestClient, version: int) -> bool:
    deadline = time.monotonic() + FOLLOW_WAIT_S
    while time.monotonic() < deadline:
        if client.get("/healthz").json()["knowledge_version"] == version:
            return True
        time.sleep(0.1)
    return False


def _publish_new_answer(admin_env: AdminEnv) -> None:
    """An editor changes one answer, a supervisor approves, the editor publishes v2."""
    svc, users = admin_env.service, admin_env.users
    ref = next(r for r in admin_env.kb.problem_refs() if r.problem.id == "lost_credit_card")
    p = ref.problem
    form = ProblemForm(
        ref.product_id, ref.product_name, ref.scenario_id, ref.scenario_name, p.id,
        p.standard_question, p.similar_questions, NEW_ANSWER, list(p.tags),
    )  # fmt: skip
    assert svc.save_problem(users["eddie"], form).saved
    svc.submit(users["eddie"])
    svc.approve(users["sue"])
    assert svc.publish(users["eddie"]).version == 2


def test_a_publish_in_one_replica_is_served_by_the_others(
    admin_env: AdminEnv, caching_embedder: CachingEmbedder
) -> None:
    svc, users = admin_env.service, admin_env.users
    replica = open_runtime(admin_env.runtime.settings, embedder=caching_embedder)
    third = open_runtime(admin_env.runtime.settings, embedder=caching_embedder)
    try:
        with TestClient(create_app(runtime=replica)) as other:
            before = other.post("/api/v1/ask", json={"text": QUESTION}).json()
            assert before["citations"][0]["knowledge_version"] == 1
            _publish_new_answer(admin_env)

            follower = VersionFollower(third)
            assert follower.check() == 2 and third.brain.retriever.version == 2
            assert follower.check() is None
            assert _serves(other, 2), "the other replica still serves v1"
            after = other.post("/api/v1/ask", json={"text": QUESTION}).json()
            assert after["text"] == NEW_ANSWER and after["citations"][0]["knowledge_version"] == 2

            svc.rollback(users["sue"], 1)
            assert _serves(other, 1)
            back = other.post("/api/v1/ask", json={"text": QUESTION}).json()
            assert back["text"] == before["text"] and back["citations"][0]["knowledge_version"] == 1
            assert follower.check() == 1
    finally:
        replica.close()
        third.close()


def test_replicas_publish_one_at_a_time_with_distinct_versions(
    admin_env: AdminEnv, caching_embedder: CachingEmbedder
) -> None:
    """Two admins on two replicas publish at once: the file lock gives them v2 and v3."""
    import threading

    from knowledge.versions import ReleaseLog
    from server.admin.publish import Publisher

    replica = open_runtime(admin_env.runtime.settings, embedder=caching_embedder)
    try:
        publishers = [
            Publisher(rt, ReleaseLog(rt.index, rt.settings.knowledge.index_dir))
            for rt in (admin_env.runtime, replica)
        ]
        versions: list[int] = []
        errors: list[BaseException] = []

        def publish(publisher: Publisher) -> None:
            try:
                versions.append(publisher.publish(admin_env.kb, [], "eddie", "sue").version)
            except BaseException as exc:  # surfaced by the assert below
                errors.append(exc)

        threads = [threading.Thread(target=publish, args=(p,)) for p in publishers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not errors and sorted(versions) == [2, 3]
        assert admin_env.runtime.index.versions() == [1, 2, 3]
        assert admin_env.runtime.index.active_version() == max(versions)
    finally:
        replica.close()


@pytest.mark.slow
def test_a_replica_in_another_process_serves_the_published_version(
    admin_env: AdminEnv, tmp_path: Path
) -> None:
    """`teller serve` in a second process, on the same index directory, Chroma files and store."""
    settings = admin_env.runtime.settings
    env = {
        "TELLER_KNOWLEDGE__INDEX_DIR": str(settings.knowledge.index_dir),
        "TELLER_STORE__URL": settings.store.url,
        "TELLER_SECRET_KEY": SECRET,
        "TELLER_LOG__LEVEL": "WARNING",
    }
    with teller_process(env, tmp_path / "replica.log") as (_replica, base):
        assert httpx.get(f"{base}/healthz", timeout=60).json()["knowledge_version"] == 1
        _publish_new_answer(admin_env)
        deadline = time.monotonic() + FOLLOW_WAIT_S
        while httpx.get(f"{base}/healthz", timeout=60).json()["knowledge_version"] != 2:
            assert time.monotonic() < deadline, "the other process still serves v1"
            time.sleep(0.1)
        after = httpx.post(f"{base}/api/v1/ask", json={"text": QUESTION}, timeout=60).json()
        assert after["text"] == NEW_ANSWER and after["citations"][0]["knowledge_version"] == 2
