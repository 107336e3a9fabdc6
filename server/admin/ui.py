"""The Gradio Blocks of the admin: a thin layer over :class:`AdminService` (imported lazily)."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd  # type: ignore[import-untyped]

from knowledge.schema import KnowledgeBase, ProblemStatus
from server.admin.editing import ProblemForm, move_problem, rename_node, set_status
from server.admin.service import AdminService
from server.admin.ui_common import shown
from server.admin.ui_tabs import lexicon_tab, publish_tabs
from server.auth.service import StaffAuth
from server.auth.tokens import SESSION_COOKIE
from server.auth.users import StaffUser

TREE_COLUMNS = ["product", "scenario", "problem_id", "standard question", "status", "similar"]


def tree_rows(kb: KnowledgeBase, query: str = "") -> list[list[str]]:
    """Products → scenarios → problems, one row per problem; the first column shows each node once."""
    needle = query.lower().strip()
    rows: list[list[str]] = []
    for product in kb.products:
        for scenario in product.scenarios:
            for problem in scenario.problems:
                text = " ".join(
                    [problem.id, problem.standard_question, *problem.similar_questions, problem.answer]
                )
                if needle and needle not in text.lower():
                    continue
                rows.append(
                    [
                        f"{product.name} ({product.id})",
                        f"{scenario.name} ({scenario.id})",
                        problem.id,
                        problem.standard_question,
                        problem.status.value,
                        str(len(problem.similar_questions)),
                    ]
                )
    return rows


def build_blocks(service: AdminService, auth: StaffAuth) -> Any:  # noqa: PLR0915 (one layout)
    def who(request: gr.Request) -> StaffUser:
        session = auth.session_of(request.cookies.get(SESSION_COOKIE))
        if session is None:
            raise gr.Error("your login expired; reload the page")
        return session.user

    def status_md(request: gr.Request) -> str:
        user = who(request)
        draft = service.draft(user)
        return (
            f"**{user.name}** ({user.role.value}) · live knowledge **v{service.live_version()}** · "
            f"draft #{draft.id} from v{draft.base_version}: **{draft.state.value}**"
            + (f", reviewed by {draft.reviewed_by}" if draft.reviewed_by else "")
            + " · [log out](/logout)"
        )

    @shown
    def browse(query: str, request: gr.Request) -> tuple[pd.DataFrame, str]:
        rows = tree_rows(service.draft(who(request)).kb, query)
        return pd.DataFrame(rows, columns=TREE_COLUMNS), status_md(request)

    @shown
    def load(problem_id: str, request: gr.Request) -> list[Any]:
        kb = service.draft(who(request)).kb
        for ref in kb.problem_refs(include_retired=True):
            if ref.problem.id == problem_id.strip():
                p = ref.problem
                return [
                    ref.product_id,
                    ref.product_name,
                    ref.scenario_id,
                    ref.scenario_name,
                    p.standard_question,
                    "\n".join(p.similar_questions),
                    p.answer,
                    ", ".join(p.tags),
                ]
        raise gr.Error(f"no problem {problem_id!r}")

    def form(*values: str) -> ProblemForm:
        pid, prod, prod_name, scen, scen_name, std, similar, answer, tags = values
        return ProblemForm(
            prod.strip(),
            prod_name,
            scen.strip(),
            scen_name,
            pid.strip(),
            std,
            similar.splitlines(),
            answer,
            tags.split(","),
        )

    def issues_md(issues: list[Any]) -> str:
        return "\n".join(f"- **{i.level.value}**: {i.message}" for i in issues) or "No problems found."

    # Gradio passes the request only to a parameter annotated gr.Request, never through *args.
    @shown
    def check(  # noqa: PLR0917 (Gradio passes the form's fields positionally)
        pid: str, prod: str, prod_name: str, scen: str, scen_name: str, std: str, similar: str,
        answer: str, tags: str, request: gr.Request,
    ) -> str:  # fmt: skip
        values = (pid, prod, prod_name, scen, scen_name, std, similar, answer, tags)
        return issues_md(service.check(who(request), form(*values)))

    @shown
    def save(  # noqa: PLR0917 (Gradio passes the form's fields positionally)
        pid: str, prod: str, prod_name: str, scen: str, scen_name: str, std: str, similar: str,
        answer: str, tags: str, accept: bool, request: gr.Request,
    ) -> tuple[str, str]:  # fmt: skip
        values = (pid, prod, prod_name, scen, scen_name, std, similar, answer, tags)
        result = service.save_problem(who(request), form(*values), accept_warnings=bool(accept))
        verdict = (
            "Saved to the draft." if result.saved else "Not saved: fix the errors or accept the warnings."
        )
        return f"{verdict}\n\n{issues_md(result.issues)}", status_md(request)

    @shown
    def retire(problem_id: str, restore: bool, request: gr.Request) -> str:
        user = who(request)
        status = ProblemStatus.PUBLISHED if restore else ProblemStatus.RETIRED
        service.edit(
            user,
            set_status(service.draft(user).kb, problem_id.strip(), status),
            "kb.set_status",
            problem_id=problem_id,
            status=status.value,
        )
        return f"{problem_id} is now {status.value} in the draft."

    @shown
    def move(problem_id: str, scenario_id: str, request: gr.Request) -> str:
        user = who(request)
        kb = move_problem(service.draft(user).kb, problem_id.strip(), scenario_id.strip())
        service.edit(user, kb, "kb.move", problem_id=problem_id, scenario_id=scenario_id)
        return f"{problem_id} moved to {scenario_id} in the draft."

    @shown
    def rename(node_id: str, name: str, request: gr.Request) -> str:
        user = who(request)
        service.edit(
            user, rename_node(service.draft(user).kb, node_id.strip(), name), "kb.rename", node=node_id
        )
        return f"{node_id} renamed."

    # analytics off: Gradio would otherwise call home (version check, usage) from a bank's server
    with gr.Blocks(title="Digital Teller — knowledge admin", analytics_enabled=False) as blocks:
        status = gr.Markdown()
        with gr.Tab("Knowledge"):
            with gr.Row():
                query = gr.Textbox(label="Search questions and answers", scale=4)
                search = gr.Button("Search", scale=1)
            tree = gr.Dataframe(
                headers=TREE_COLUMNS, interactive=False, label="Products → scenarios → problems"
            )
            with gr.Row():
                pid = gr.Textbox(label="Problem id")
                load_btn = gr.Button("Load")
            with gr.Row():
                prod, prod_name = gr.Textbox(label="Product id"), gr.Textbox(label="Product name")
                scen, scen_name = gr.Textbox(label="Scenario id"), gr.Textbox(label="Scenario name")
            std = gr.Textbox(label="Standard question")
            similar = gr.Textbox(label="Similar questions (one per line)", lines=6)
            answer = gr.Textbox(label="Approved answer", lines=4)
            tags = gr.Textbox(label="Tags (comma separated)")
            accept = gr.Checkbox(label="Save despite warnings")
            with gr.Row():
                check_btn, save_btn = gr.Button("Check"), gr.Button("Save to draft", variant="primary")
                retire_btn, restore_btn = gr.Button("Retire"), gr.Button("Restore")
            with gr.Row():
                target_scenario = gr.Textbox(label="Move to scenario id")
                move_btn = gr.Button("Move")
                node_id, node_name = gr.Textbox(label="Product/scenario id"), gr.Textbox(label="New name")
                rename_btn = gr.Button("Rename")
            edit_out = gr.Markdown()
            fields = [pid, prod, prod_name, scen, scen_name, std, similar, answer, tags]
            search.click(browse, [query], [tree, status], api_name="browse")
            query.submit(browse, [query], [tree, status])
            load_btn.click(load, [pid], fields[1:], api_name="load_problem")
            check_btn.click(check, fields, [edit_out], api_name="check_problem")
            save_btn.click(save, [*fields, accept], [edit_out, status], api_name="save_problem")
            retire_btn.click(retire, [pid, gr.State(False)], [edit_out], api_name="retire")
            restore_btn.click(retire, [pid, gr.State(True)], [edit_out], api_name="restore")
            move_btn.click(move, [pid, target_scenario], [edit_out], api_name="move")
            rename_btn.click(rename, [node_id, node_name], [edit_out], api_name="rename")
        lexicon_tab(service, who, shown)
        publish_tabs(service, who, shown, fields, status_md=status_md, status=status)
        blocks.load(browse, [query], [tree, status])
    return blocks
