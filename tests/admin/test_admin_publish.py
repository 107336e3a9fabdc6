"""Publish behind the regression gate, rollback, playground, inbox, and publishing under load."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from knowledge.versions import split_holdout
from server.admin.drafts import DraftState
from server.admin.editing import ProblemForm
from server.admin.publish import PublishBlocked
from server.app import create_app
from server.config import RateRule
from tests.admin.conftest import AdminEnv

QUESTION = "I lost my credit card, what do I do?"


def _retarget(env: AdminEnv, problem_id: str, similar: list[str], answer: str | None = None) -> ProblemForm:
    ref = next(
        r for r in env.service.draft(env.users["eddie"]).kb.problem_refs() if r.problem.id == problem_id
    )
    p = ref.problem
    return ProblemForm(
        ref.product_id,
        ref.product_name,
        ref.scenario_id,
        ref.scenario_name,
        p.id,
        p.standard_question,
        similar,
        answer or p.answer,
        list(p.tags),
    )


def _approve(env: AdminEnv) -> None:
    env.service.submit(env.users["eddie"])
    env.service.approve(env.users["sue"])


def test_publish_then_rollback_and_playground(admin_env: AdminEnv) -> None:
    svc, users = admin_env.service, admin_env.users
    new_answer = "If your credit card is lost, freeze it in the app at once and order a replacement there."
    ref = next(r for r in admin_env.kb.problem_refs() if r.problem.id == "lost_credit_card")
    assert svc.save_problem(
        users["eddie"], _retarget(admin_env, "lost_credit_card", ref.problem.similar_questions, new_answer)
    ).saved
    _approve(admin_env)
    published = svc.publish(users["eddie"])
    assert published.version == 2 and published.report.passed
    assert admin_env.runtime.brain.retriever.version == 2
    assert svc.drafts.current() is None
    live = svc.ask(QUESTION, "live")
    assert live.reply.text == new_answer and live.reply.citations[0].knowledge_version == 2
    assert svc.ask(QUESTION, "v1").reply.citations[0].knowledge_version == 1
    indexed, held = split_holdout(svc.releases.source(2), 10)
    assert held and svc.releases.source(2) != indexed
    assert admin_env.runtime.index.snapshot(2) == indexed
    svc.rollback(users["sue"], 1)
    assert admin_env.runtime.brain.retriever.version == 1
    assert admin_env.runtime.index.active_version() == 1
    assert [r["action"] for r in svc.audit_rows()][-3:] == ["kb.approve", "kb.publish", "kb.rollback"]


def test_draft_playground_preview(admin_env: AdminEnv) -> None:
    svc, eddie = admin_env.service, admin_env.users["eddie"]
    with pytest.raises(LookupError):
        svc.ask(QUESTION, "draft")
    svc.build_preview(eddie)
    result = svc.ask(QUESTION, "draft")
    assert (
        result.reply.decision.value == "answer" and result.candidates[0].ref.problem.id == "lost_credit_card"
    )


def test_regression_gate_blocks_a_bad_edit(admin_env: AdminEnv) -> None:
    svc, users = admin_env.service, admin_env.users
    ref = next(r for r in admin_env.kb.problem_refs() if r.problem.id == "lost_credit_card")
    for text in [ref.problem.standard_question, *ref.problem.similar_questions[:3]]:
        svc.drafts.add_golden(text, "lost_credit_card", "sue")
    bad = _retarget(admin_env, "lost_credit_card", ["what colours do your cards come in"])
    bad = ProblemForm(**{**bad.__dict__, "standard_question": "Which card designs can I choose from?"})
    assert svc.save_problem(users["eddie"], bad, accept_warnings=True).saved
    _approve(admin_env)
    with pytest.raises(PublishBlocked) as blocked:
        svc.publish(users["eddie"])
    report = blocked.value.report
    assert not report.passed and report.live_accuracy is not None
    assert report.live_accuracy - report.candidate_accuracy > 0.01
    assert any(m.expected == "lost_credit_card" and m.live == "lost_credit_card" for m in report.misses)
    assert admin_env.runtime.brain.retriever.version == 1
    assert admin_env.runtime.index.versions() == [1]
    assert svc.drafts.current() is not None and svc.drafts.current().state is DraftState.APPROVED  # type: ignore[union-attr]


def test_inbox_to_similar_question(admin_env: AdminEnv) -> None:
    svc, eddie = admin_env.service, admin_env.users["eddie"]
    with TestClient(create_app(runtime=admin_env.runtime)) as client:
        asked = client.post("/api/v1/ask", json={"text": "do you sell home insurance for my flat"}).json()
        assert asked["decision"] in ("refuse", "clarify", "handoff")
        client.post("/api/v1/ask", json={"text": "do you sell home insurance for my apartment"})
        happy = client.post("/api/v1/ask", json={"text": QUESTION}).json()
        assert (
            client.post(
                "/api/v1/feedback",
                json={"session_id": happy["session_id"], "rating": "down", "comment": "meh"},
                headers={"Authorization": f"Bearer {happy['token']}"},
            ).status_code
            == 201
        )
        assert client.post("/api/v1/feedback", json={"session_id": "nope", "rating": "up"}).status_code == 401
    groups = svc.inbox(eddie)
    insurance = next(g for g in groups if "home insurance" in g.lead)
    assert len(insurance.texts) == 2 and len(insurance.sessions) == 2
    assert any(g.whys.get("thumbs_down") for g in groups)
    insured = next(g for g in svc.inbox_concepts() if g.concept == "insurance")
    assert len(insured.sessions) == 2 and all("home insurance" in t for t in insured.texts)
    svc.inbox_add_similar(eddie, insurance.lead, "credit_card_apply")
    after = svc.inbox(eddie)
    assert all(insurance.lead not in g.texts for g in after)
    from server.admin.analytics import analytics

    numbers = analytics(svc.engine)
    assert numbers.sessions == 3 and numbers.thumbs == {"up": 0, "down": 1}


def test_publishing_while_customers_ask(admin_env: AdminEnv) -> None:
    svc, users = admin_env.service, admin_env.users
    ref = next(r for r in admin_env.kb.problem_refs() if r.problem.id == "lost_credit_card")
    svc.save_problem(
        users["eddie"],
        _retarget(
            admin_env,
            "lost_credit_card",
            ref.problem.similar_questions,
            ref.problem.answer + " We are here 24/7.",
        ),
    )
    _approve(admin_env)
    seen: list[int] = []
    failures: list[str] = []
    stop = threading.Event()
    # one address asking as fast as it can: past the per-address /ask limit on purpose
    admin_env.runtime.settings.limits.ask_per_ip = RateRule(rate=10_000, burst=10_000)
    with TestClient(create_app(runtime=admin_env.runtime)) as client:

        def ask_forever() -> None:
            while not stop.is_set():
                response = client.post("/api/v1/ask", json={"text": QUESTION})
                if response.status_code != 200:
                    failures.append(response.text)
                    continue
                seen.extend(c["knowledge_version"] for c in response.json()["citations"])

        asker = threading.Thread(target=ask_forever)
        asker.start()
        try:
            published = svc.publish(users["eddie"])
            for _ in range(5):
                client.post("/api/v1/ask", json={"text": QUESTION})
        finally:
            stop.set()
            asker.join(timeout=30)
    assert not failures
    assert set(seen) <= {1, published.version} and 1 in seen and published.version in seen
