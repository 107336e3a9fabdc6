"""Editing the draft: create, edit, move, retire, lexicon, validation, import/export, audit."""

from __future__ import annotations

import pytest

from knowledge.io import Format
from knowledge.schema import ProblemStatus
from server.admin.checks import Level
from server.admin.drafts import DraftState, IllegalTransition
from server.admin.editing import ProblemForm, lexicon_table, move_problem, set_status, with_lexicon_table
from server.admin.service import Forbidden
from server.admin.ui import tree_rows
from tests.admin.conftest import AdminEnv

ANSWER = "Call us on the number on the back of your card and we will help you straight away."


def form(**overrides: object) -> ProblemForm:
    values: dict[str, object] = {
        "product_id": "savings",
        "product_name": "Savings",
        "scenario_id": "savings_open",
        "scenario_name": "Open a savings account",
        "problem_id": "savings_open_how",
        "standard_question": "How do I open a savings account?",
        "similar_questions": ["can I open a savings account in the app", "open savings"],
        "answer": ANSWER,
        "tags": ["savings"],
    }
    values.update(overrides)
    return ProblemForm(**values)  # type: ignore[arg-type]


def test_create_edit_move_retire_and_audit(admin_env: AdminEnv) -> None:
    svc, eddie = admin_env.service, admin_env.users["eddie"]
    result = svc.save_problem(eddie, form())
    assert result.saved, result.issues
    kb = svc.draft(eddie).kb
    assert any(r[2] == "savings_open_how" for r in tree_rows(kb, "savings account"))
    assert tree_rows(kb, "no such words anywhere") == []
    edited = svc.save_problem(eddie, form(answer=ANSWER + " Bring your ID.", tags=["savings", "branch"]))
    assert edited.saved
    problem = next(r.problem for r in edited.draft.kb.problem_refs() if r.problem.id == "savings_open_how")
    assert problem.tags == ["savings", "branch"] and problem.version == 2
    moved = move_problem(edited.draft.kb, "savings_open_how", "credit_card_security")
    svc.edit(eddie, moved, "kb.move", problem_id="savings_open_how")
    kb = svc.draft(eddie).kb
    assert "savings" not in {p.id for p in kb.products}
    svc.edit(eddie, set_status(kb, "savings_open_how", ProblemStatus.RETIRED), "kb.set_status")
    kb = svc.draft(eddie).kb
    assert "savings_open_how" not in {r.problem.id for r in kb.problem_refs()}
    assert "savings_open_how" in {r.problem.id for r in kb.problem_refs(include_retired=True)}
    audit = svc.audit_rows()
    assert [r["actor"] for r in audit] == ["eddie"] * 4
    assert "savings_open_how" in audit[0]["detail"] and "branch" in audit[1]["detail"]
    assert b"kb.move" in svc.audit_export("csv") and b"kb.set_status" in svc.audit_export("jsonl")


def test_validation_flags_before_saving(admin_env: AdminEnv) -> None:
    svc, eddie = admin_env.service, admin_env.users["eddie"]
    empty = svc.save_problem(eddie, form(answer=""))
    assert not empty.saved and any(i.level is Level.ERROR and "answer" in i.message for i in empty.issues)
    dup = svc.save_problem(eddie, form(similar_questions=["open savings", "Open  savings"]))
    assert not dup.saved and any("duplicate" in i.message for i in dup.issues)
    taken = next(r.problem for r in admin_env.kb.problem_refs() if r.problem.id == "lost_credit_card")
    collide = svc.check(eddie, form(similar_questions=[taken.similar_questions[0]]))
    assert any("lost_credit_card" in i.message for i in collide)
    near = svc.check(eddie, form(similar_questions=[taken.standard_question.rstrip("?") + " please?"]))
    assert any("similar to a question of problem lost_credit_card" in i.message for i in near)
    assert svc.save_problem(
        eddie, form(similar_questions=["open savings", "open savings"]), accept_warnings=True
    ).saved


def test_lexicon_edit(admin_env: AdminEnv) -> None:
    svc, eddie = admin_env.service, admin_env.users["eddie"]
    rows = lexicon_table(svc.draft(eddie).kb.lexicon)
    rows.append(["attribute", "overdraft", "od, overdrawn", "", "", "", ""])
    svc.edit(eddie, with_lexicon_table(svc.draft(eddie).kb, rows), "kb.lexicon")
    word = next(w for w in svc.draft(eddie).kb.lexicon.attribute_words if w.word == "overdraft")
    assert word.synonyms == ["od", "overdrawn"]


@pytest.mark.parametrize("fmt", list(Format))
def test_import_export_round_trip_with_diff(admin_env: AdminEnv, fmt: Format) -> None:
    svc, eddie = admin_env.service, admin_env.users["eddie"]
    data = svc.export(eddie, fmt)
    same, change = svc.preview_import(eddie, data, fmt)
    assert same == svc.draft(eddie).kb and change.empty
    svc.save_problem(eddie, form())
    _, change = svc.preview_import(eddie, data, fmt)
    assert change.removed == ["savings_open_how"]
    svc.apply_import(eddie, same)
    assert svc.draft(eddie).kb == admin_env.kb


def test_roles_and_review_state_machine(admin_env: AdminEnv) -> None:
    svc, users = admin_env.service, admin_env.users
    with pytest.raises(Forbidden):
        svc.draft(users["otto"])
    svc.save_problem(users["eddie"], form())
    with pytest.raises(Forbidden):
        svc.publish(users["eddie"])
    with pytest.raises(Forbidden):
        svc.approve(users["eddie"])
    svc.submit(users["sue"])
    with pytest.raises(Forbidden):
        svc.approve(users["sue"])
    assert svc.approve(users["ada"]).state is DraftState.APPROVED
    assert svc.save_problem(users["eddie"], form(tags=["x"])).draft.state is DraftState.EDITING
    with pytest.raises(IllegalTransition):
        svc.approve(users["ada"])
