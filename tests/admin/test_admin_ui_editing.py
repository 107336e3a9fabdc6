"""The mounted admin driven with gradio_client as logged-in staff: login, CRUD, validation,
lexicon, import/export.

Every call goes through HTTP, the staff cookie check, Gradio's queue and the
event handlers the buttons are bound to, so the UI wiring is what is tested.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from openpyxl import load_workbook  # type: ignore[import-untyped]

from tests.admin.conftest import LiveAdmin, login

# Gradio's queue logs a handled gr.Error through pandas, which warns about its own option.
pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")

ANSWER = "Open it in the app under Accounts, then New savings account; it takes two minutes."
NEW = [
    "savings_open_how", "savings", "Savings", "savings_open", "Open a savings account",
    "How do I open a savings account?", "can I open a savings account in the app\nopen savings",
    ANSWER, "savings",
]  # fmt: skip


def tree(client: Any, query: str = "") -> list[list[Any]]:
    table, _status = client.predict(query, api_name="/browse")
    rows: list[list[Any]] = table["data"]
    return rows


def test_the_door_lets_in_staff_with_an_admin_role_only(live_admin: LiveAdmin) -> None:
    anonymous = httpx.get(f"{live_admin.base}/admin/", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    api = httpx.post(f"{live_admin.base}/admin/gradio_api/queue/join", json={})
    assert api.status_code == 401
    with login(live_admin.base, "otto") as operator:
        assert operator.get("/admin/").status_code == 403
    eddie = live_admin.client("eddie")
    _, status = eddie.predict("", api_name="/browse")
    assert "**eddie** (editor)" in status and "live knowledge **v1**" in status


def test_browse_create_edit_move_retire_through_the_ui(live_admin: LiveAdmin) -> None:
    eddie = live_admin.client("eddie")
    assert any(r[2] == "lost_credit_card" for r in tree(eddie))
    assert tree(eddie, "savings account") == []
    verdict, status = eddie.predict(*NEW, False, api_name="/save_problem")
    assert verdict.startswith("Saved to the draft."), verdict
    assert "draft #1 from v1: **editing**" in status
    assert [r[2] for r in tree(eddie, "savings account")] == ["savings_open_how"]

    loaded = eddie.predict("savings_open_how", api_name="/load_problem")
    assert list(loaded) == NEW[1:]
    edited = [*NEW]
    edited[5] = "How can I open a savings account?"
    edited[6] = "open savings\nstart saving with you\nnew savings pot"
    edited[7] = ANSWER + " Bring nothing: no paperwork is needed."
    edited[8] = "savings, app"
    verdict, _ = eddie.predict(*edited, False, api_name="/save_problem")
    assert verdict.startswith("Saved"), verdict
    loaded = eddie.predict("savings_open_how", api_name="/load_problem")
    assert loaded[4:] == (*edited[5:8], "savings, app")

    assert "moved" in eddie.predict("savings_open_how", "credit_card_security", api_name="/move")
    loaded = eddie.predict("savings_open_how", api_name="/load_problem")
    assert (loaded[0], loaded[2]) == ("credit_card", "credit_card_security")
    assert not [r for r in tree(eddie) if r[0].startswith("Savings")]  # the emptied product is gone
    eddie.predict("credit_card_security", "Card safety", api_name="/rename")
    row = next(r for r in tree(eddie) if r[2] == "savings_open_how")
    assert row[1] == "Card safety (credit_card_security)"

    eddie.predict("savings_open_how", api_name="/retire")
    assert next(r for r in tree(eddie) if r[2] == "savings_open_how")[4] == "retired"
    eddie.predict("savings_open_how", api_name="/restore")
    assert next(r for r in tree(eddie) if r[2] == "savings_open_how")[4] == "published"
    with pytest.raises(AppError, match="no scenario"):
        eddie.predict("savings_open_how", "nowhere", api_name="/move")
    with pytest.raises(AppError, match="no problem"):
        eddie.predict("no_such_problem", api_name="/load_problem")

    audit, _file = eddie.predict(api_name="/audit")
    actions = [(r[2], r[3]) for r in audit["data"]]
    assert actions == [("eddie", a) for a in (
        "kb.save_problem", "kb.save_problem", "kb.move", "kb.rename", "kb.set_status", "kb.set_status",
    )]  # fmt: skip
    assert "no paperwork" in audit["data"][1][4]  # the edit's diff is in the audit detail


def test_validation_is_shown_before_saving(live_admin: LiveAdmin) -> None:
    eddie = live_admin.client("eddie")
    taken = next(r.problem for r in live_admin.env.kb.problem_refs() if r.problem.id == "lost_credit_card")

    def check(**change: str) -> str:
        values = [*NEW]
        for index, value in change.items():
            values[int(index[1:])] = value
        report: str = eddie.predict(*values, api_name="/check_problem")
        return report

    assert check() == "No problems found."
    assert "**error**: the approved answer is empty" in check(a7="")
    assert "duplicate similar question: 'Open  savings'" in check(a6="open savings\nOpen  savings")
    assert "already a question of problem lost_credit_card" in check(a6=taken.similar_questions[0])
    near = taken.standard_question.rstrip("?") + " please?"
    assert "similar to a question of problem lost_credit_card" in check(a6=near)

    values = [*NEW]
    values[6] = near
    verdict, _ = eddie.predict(*values, False, api_name="/save_problem")
    assert verdict.startswith("Not saved") and "lost_credit_card" in verdict
    assert tree(eddie, "savings account") == []
    values[7] = ""
    verdict, _ = eddie.predict(*values, True, api_name="/save_problem")
    assert verdict.startswith("Not saved"), "an error blocks even with warnings accepted"
    values[7] = ANSWER
    verdict, _ = eddie.predict(*values, True, api_name="/save_problem")
    assert verdict.startswith("Saved") and tree(eddie, "savings account")


def test_lexicon_editing_through_the_ui(live_admin: LiveAdmin) -> None:
    eddie = live_admin.client("eddie")
    table = eddie.predict(api_name="/lexicon")
    rows = table["data"]
    assert rows and all(r[0] in ("intent", "entity", "attribute") for r in rows)
    rows.append(["attribute", "overdraft", "od, overdrawn", "", "", "", ""])
    message = eddie.predict(
        {"headers": table["headers"], "data": rows, "metadata": None}, api_name="/save_lexicon"
    )
    assert message == f"Lexicon saved to the draft: {len(rows)} words."
    again = eddie.predict(api_name="/lexicon")["data"]
    assert ["attribute", "overdraft", "od, overdrawn", "", "", "", ""] in again
    changes = eddie.predict(api_name="/draft_changes")["data"]
    assert ["lexicon added", "attribute:overdraft", "", "", ""] in changes
    bad = [*rows, ["colour", "teal", "", "", "", "", ""]]
    with pytest.raises(AppError, match="lexicon"):
        eddie.predict({"headers": table["headers"], "data": bad, "metadata": None}, api_name="/save_lexicon")


def _edit_answer(path: Path, fmt: str, problem_id: str, answer: str) -> Path:
    """Change one answer in an exported file the way the content team would (spreadsheet, text editor)."""
    out = path.with_name(f"edited.{fmt}")
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
        for row in rows:
            if row["problem_id"] == problem_id:
                row["answer"] = answer
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        out.write_text(text.getvalue(), encoding="utf-8")
    elif fmt == "jsonl":
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        for line in lines:
            if line.get("problem_id") == problem_id:
                line["answer"] = answer
        out.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    else:
        book = load_workbook(path)
        sheet = book["problems"]
        header = [c.value for c in sheet[1]]
        for row in sheet.iter_rows(min_row=2):
            if row[header.index("problem_id")].value == problem_id:
                row[header.index("answer")].value = answer
        book.save(out)
    return out


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
def test_import_export_round_trip_with_a_diff_first(live_admin: LiveAdmin, fmt: str) -> None:
    eddie = live_admin.client("eddie")
    exported = Path(eddie.predict(fmt, "draft", api_name="/export"))
    assert exported.suffix == f".{fmt}" and exported.stat().st_size > 1000
    diff, message = eddie.predict(handle_file(str(exported)), api_name="/preview_import")
    assert diff["data"] == [] and message.startswith("0 changes"), "export → import is lossless"

    new_answer = "Freeze the card in the app straight away, then order a new one under Cards."
    edited = _edit_answer(exported, fmt, "lost_credit_card", new_answer)
    diff, message = eddie.predict(handle_file(str(edited)), api_name="/preview_import")
    assert message.startswith("1 changes"), diff
    change, node, what, before, after = diff["data"][0]
    assert (change, node, what, after) == ("changed", "lost_credit_card", "answer", new_answer)
    assert eddie.predict("lost_credit_card", api_name="/load_problem")[6] == before, "not applied yet"
    assert eddie.predict(api_name="/apply_import") == "Import applied to the draft."
    assert eddie.predict("lost_credit_card", api_name="/load_problem")[6] == new_answer
    with pytest.raises(AppError, match="preview an import first"):
        eddie.predict(api_name="/apply_import")

    again = Path(eddie.predict(fmt, "draft", api_name="/export"))
    diff, _ = eddie.predict(handle_file(str(again)), api_name="/preview_import")
    assert diff["data"] == []
    live = Path(eddie.predict(fmt, "live", api_name="/export"))
    diff, _ = eddie.predict(handle_file(str(live)), api_name="/preview_import")
    assert [r[:3] for r in diff["data"]] == [["changed", "lost_credit_card", "answer"]]
