"""The admin's other tabs: lexicon, import/export, review and publish, playground, inbox, analytics, audit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd  # type: ignore[import-untyped]

from knowledge.io import Format
from server.admin.analytics import analytics
from server.admin.editing import LEXICON_TABLE_COLUMNS, lexicon_table, with_lexicon_table
from server.admin.publish import PublishBlocked, PublishConflict
from server.admin.service import AdminService
from server.admin.ui_common import Guard, Who, temp_file

DIFF_COLUMNS = ["change", "node", "field", "before", "after"]


def lexicon_tab(service: AdminService, who: Who, shown: Guard) -> None:
    @shown
    def load(request: gr.Request) -> pd.DataFrame:
        return pd.DataFrame(
            lexicon_table(service.draft(who(request)).kb.lexicon), columns=LEXICON_TABLE_COLUMNS
        )

    @shown
    def save(table: pd.DataFrame, request: gr.Request) -> str:
        user = who(request)
        kb = with_lexicon_table(service.draft(user).kb, table.values.tolist())
        service.edit(user, kb, "kb.lexicon")
        return f"Lexicon saved to the draft: {len(kb.lexicon)} words."

    with gr.Tab("Lexicon"):
        gr.Markdown("Intent, entity and attribute words; synonyms and ambiguous products comma separated.")
        table = gr.Dataframe(headers=LEXICON_TABLE_COLUMNS, interactive=True)
        with gr.Row():
            reload, store = gr.Button("Reload"), gr.Button("Save lexicon to draft", variant="primary")
        out = gr.Markdown()
        reload.click(load, None, [table], api_name="lexicon")
        store.click(save, [table], [out], api_name="save_lexicon")


def publish_tabs(
    service: AdminService, who: Who, shown: Guard, fields: list[Any], *, status_md: Any, status: Any
) -> None:
    pending: dict[str, Any] = {}

    @shown
    def export(fmt: str, source: str, request: gr.Request) -> str:
        return temp_file(f"knowledge.{fmt}", service.export(who(request), Format(fmt), source))

    @shown
    def preview(file: str | None, request: gr.Request) -> tuple[pd.DataFrame, str]:
        if not file:
            raise gr.Error("choose a file first")
        user = who(request)
        fmt = Format(Path(file).suffix.lstrip(".").lower())
        kb, change = service.preview_import(user, Path(file).read_bytes(), fmt)
        pending[user.name] = kb
        return pd.DataFrame(change.table(), columns=DIFF_COLUMNS), f"{len(change.table())} changes; apply?"

    @shown
    def apply(request: gr.Request) -> str:
        user = who(request)
        kb = pending.pop(user.name, None)
        if kb is None:
            raise gr.Error("preview an import first")
        service.apply_import(user, kb)
        return "Import applied to the draft."

    with gr.Tab("Import / export"):
        with gr.Row():
            fmt = gr.Radio([f.value for f in Format], value="xlsx", label="Format")
            source = gr.Radio(["draft", "live"], value="draft", label="Export")
            export_btn = gr.Button("Export")
        exported = gr.File(label="Exported file")
        upload = gr.File(label="Import a CSV, XLSX or JSONL file", type="filepath")
        preview_btn, apply_btn = (
            gr.Button("Preview the import"),
            gr.Button("Apply the import", variant="primary"),
        )
        diff_table = gr.Dataframe(headers=DIFF_COLUMNS, interactive=False)
        import_out = gr.Markdown()
        export_btn.click(export, [fmt, source], [exported], api_name="export")
        preview_btn.click(preview, [upload], [diff_table, import_out], api_name="preview_import")
        apply_btn.click(apply, None, [import_out], api_name="apply_import")

    _review_tab(service, who, shown, status_md, status)
    _playground_tab(service, who, shown)
    _inbox_tab(service, who, shown, fields)
    _analytics_tab(service, shown)


def _review_tab(service: AdminService, who: Who, shown: Guard, status_md: Any, status: Any) -> None:
    @shown
    def changes(request: gr.Request) -> pd.DataFrame:
        from server.admin.diff import diff_kb

        draft = service.draft(who(request))
        live = service.releases.source(service.live_version())
        return pd.DataFrame(diff_kb(live, draft.kb).table(), columns=DIFF_COLUMNS)

    def step(name: str) -> Any:
        @shown
        def run(request: gr.Request) -> tuple[str, pd.DataFrame, str]:
            user = who(request)
            misses = pd.DataFrame(columns=["question", "expected", "candidate", "live"])
            if name != "publish":
                getattr(service, name)(user)
                return f"Done: {name}.", misses, status_md(request)
            try:
                published = service.publish(user)
            except PublishBlocked as exc:
                rows = [[m.text, m.expected, m.candidate, m.live] for m in exc.report.misses]
                return (
                    f"**Blocked.** {exc.report.summary()}",
                    pd.DataFrame(rows, columns=misses.columns),
                    (status_md(request)),
                )
            except PublishConflict as exc:  # another worker published first; the draft is still approved
                return f"**Not published.** {exc}", misses, status_md(request)
            return (
                f"Published **v{published.version}**. {published.report.summary()}",
                misses,
                status_md(request),
            )

        return run

    @shown
    def versions() -> pd.DataFrame:
        live = service.live_version()
        rows = [
            [
                v,
                "live" if v == live else "",
                r.published_by if r else "",
                r.reviewed_by or "" if r else "",
                r.at if r else "",
                (r.gate.get("candidate_accuracy", "") if r else ""),
            ]
            for v, r in service.releases.history()
        ]
        return pd.DataFrame(rows, columns=["version", "live", "published by", "reviewed by", "at", "top-1"])

    @shown
    def rollback(version: float, request: gr.Request) -> tuple[str, str]:
        service.rollback(who(request), int(version))
        return f"Rolled back: v{int(version)} is live.", status_md(request)

    with gr.Tab("Review & publish"):
        diff_btn = gr.Button("Show draft changes against the live version")
        diff_table = gr.Dataframe(headers=DIFF_COLUMNS, interactive=False)
        with gr.Row():
            buttons = {
                n: gr.Button(n.capitalize()) for n in ("submit", "approve", "reject", "discard", "publish")
            }
        result = gr.Markdown()
        misses = gr.Dataframe(
            headers=["question", "expected", "candidate", "live"],
            interactive=False,
            label="Failing regression questions",
        )
        diff_btn.click(changes, None, [diff_table], api_name="draft_changes")
        for name, button in buttons.items():
            button.click(step(name), None, [result, misses, status], api_name=name)
        versions_table = gr.Dataframe(interactive=False, label="Versions")
        with gr.Row():
            refresh = gr.Button("Refresh versions")
            version = gr.Number(label="Version", precision=0)
            rollback_btn = gr.Button("Roll back to this version")
        refresh.click(versions, None, [versions_table], api_name="versions")
        rollback_btn.click(rollback, [version], [result, status], api_name="rollback")
        _golden_set(service, who, shown, refresh)


def _golden_set(service: AdminService, who: Who, shown: Guard, refresh: Any) -> None:
    """The team's golden regression questions (inside the review tab)."""

    @shown
    def golden() -> pd.DataFrame:
        rows = [[g.id, g.text, g.problem_id, g.added_by] for g in service.drafts.golden()]
        return pd.DataFrame(rows, columns=["id", "question", "problem_id", "added by"])

    @shown
    def add_golden(text: str, problem_id: str, request: gr.Request) -> pd.DataFrame:
        service.add_golden(who(request), text, problem_id)
        return golden()

    @shown
    def remove_golden(golden_id: float | None, request: gr.Request) -> pd.DataFrame:
        if golden_id is None:
            raise gr.Error("give the id of the golden question to remove")
        service.remove_golden(who(request), int(golden_id))
        return golden()

    gr.Markdown("**Golden set**: questions with the problem that must answer them; checked on every publish.")
    golden_table = gr.Dataframe(interactive=False)
    with gr.Row():
        g_text, g_pid = gr.Textbox(label="Question"), gr.Textbox(label="Problem id")
        g_add = gr.Button("Add to golden set")
        g_id = gr.Number(label="Golden question id", precision=0)
        g_remove = gr.Button("Remove (supervisor/admin)")
    g_add.click(add_golden, [g_text, g_pid], [golden_table], api_name="add_golden")
    g_remove.click(remove_golden, [g_id], [golden_table], api_name="remove_golden")
    refresh.click(golden, None, [golden_table])


def _playground_tab(service: AdminService, who: Who, shown: Guard) -> None:
    @shown
    def ask(text: str, target: str, session: str) -> tuple[str, pd.DataFrame, str, list[dict[str, Any]], str]:
        result = service.ask(text, target, session or None)
        reply = result.reply
        rows = [
            [c.ref.problem.id, c.ref.product_id, round(c.score, 4), round(c.dense, 4), round(c.lexical, 4)]
            for c in result.candidates
        ]
        head = (
            f"**{reply.decision.value}** ({reply.reason.value}), confidence {reply.confidence:.2f} "
            f"— {result.version_label}"
        )
        cites = [
            {"problem_id": c.problem_id, "knowledge_version": c.knowledge_version} for c in reply.citations
        ]
        return (
            head,
            pd.DataFrame(rows, columns=["problem", "product", "score", "dense", "lexical"]),
            reply.text,
            cites,
            result.session_id,
        )

    @shown
    def build(request: gr.Request) -> str:
        return f"Draft preview #{service.build_preview(who(request))} built; choose 'draft' and ask."

    with gr.Tab("Playground"):
        session = gr.Textbox(visible=False)  # the conversation's session id (a Textbox: API callers pass it)
        with gr.Row():
            text = gr.Textbox(label="Question", scale=4)
            target = gr.Dropdown(["live", "draft"], value="live", label="Knowledge", allow_custom_value=True)
        with gr.Row():
            ask_btn, preview_btn = gr.Button("Ask", variant="primary"), gr.Button("Build draft preview")
            restart = gr.Button("New conversation")
        decision = gr.Markdown()
        candidates = gr.Dataframe(interactive=False, label="Top candidates")
        answer = gr.Textbox(label="Answer", lines=4)
        citations = gr.JSON(label="Citations")
        outputs = [decision, candidates, answer, citations, session]
        ask_btn.click(ask, [text, target, session], outputs, api_name="ask")
        text.submit(ask, [text, target, session], outputs)
        restart.click(lambda: "", None, [session])
        preview_btn.click(build, None, [decision], api_name="build_preview")


def _inbox_tab(service: AdminService, who: Who, shown: Guard, fields: list[Any]) -> None:
    columns = ["group", "sessions", "why", "question", "nearest problem", "also asked"]

    @shown
    def refresh(request: gr.Request) -> tuple[pd.DataFrame, Any, pd.DataFrame]:
        user = who(request)
        groups = service.inbox(user)
        missing = [[g.concept, len(g.sessions), "\n".join(g.texts[:5])] for g in service.inbox_concepts()]
        rows = []
        for n, g in enumerate(groups, start=1):
            near = service.suggest(user, g.lead)
            rows.append(
                [
                    n,
                    len(g.sessions),
                    ", ".join(f"{k}:{v}" for k, v in g.whys.items()),
                    g.lead,
                    f"{near[0]} ({near[1]:.2f})" if near else "",
                    "\n".join(g.texts[1:6]),
                ]
            )
        choices = list(dict.fromkeys(t for g in groups for t in g.texts))
        concepts = pd.DataFrame(missing, columns=["missing concept", "sessions", "asked"])
        return pd.DataFrame(rows, columns=columns), gr.update(choices=choices), concepts

    @shown
    def suggest(text: str, request: gr.Request) -> str:
        near = service.suggest(who(request), text) if text and text.strip() else None
        return near[0] if near else ""

    @shown
    def add(text: str, problem_id: str, request: gr.Request) -> str:
        if not text or not text.strip() or not problem_id.strip():
            raise gr.Error("choose a question and the problem it belongs to")
        service.inbox_add_similar(who(request), text.strip(), problem_id.strip())
        return f"Added to {problem_id} in the draft."

    @shown
    def new_problem(text: str, request: gr.Request) -> list[str]:
        """The Knowledge tab's form, filled for a new problem placed beside the nearest one."""
        if not text or not text.strip():
            raise gr.Error("choose a question first")
        user = who(request)
        near = service.suggest(user, text)
        refs = {r.problem.id: r for r in service.draft(user).kb.problem_refs()}
        ref = refs.get(near[0]) if near else None
        place = [ref.product_id, ref.product_name, ref.scenario_id, ref.scenario_name] if ref else [""] * 4
        slug = "_".join(w for w in "".join(c if c.isalnum() else " " for c in text.lower()).split()[:6])
        return [slug, *place, text.strip(), "", "", "", "Write the answer on the Knowledge tab and save."]

    with gr.Tab("Unanswered"):
        refresh_btn = gr.Button("Refresh")
        concepts = gr.Dataframe(
            interactive=False, label="Not covered by the knowledge, by what it has no answer for"
        )
        groups = gr.Dataframe(interactive=False, label="Unanswered questions, grouped")
        with gr.Row():
            question = gr.Dropdown([], label="Question", allow_custom_value=True, scale=3)
            problem_id = gr.Textbox(label="Problem id (nearest suggested)")
            add_btn, new_btn = gr.Button("Add as similar question"), gr.Button("New problem from this")
        out = gr.Markdown()
        refresh_btn.click(refresh, None, [groups, question, concepts], api_name="inbox")
        question.change(suggest, [question], [problem_id], api_name="inbox_suggest")
        add_btn.click(add, [question, problem_id], [out], api_name="inbox_add_similar")
        new_btn.click(new_problem, [question], [*fields, out], api_name="inbox_new_problem")


def _analytics_tab(service: AdminService, shown: Guard) -> None:
    @shown
    def refresh() -> tuple[pd.DataFrame, str, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        a = analytics(service.engine)
        rates = (
            f"**{a.sessions}** sessions · answered without a human **{a.answered_without_human_rate:.0%}** · "
            f"hand-off **{a.handoff_rate:.0%}** · 👍 {a.thumbs['up']} · 👎 {a.thumbs['down']}"
        )
        return (
            pd.DataFrame(a.sessions_per_day, columns=["day", "sessions"]),
            rates,
            pd.DataFrame(a.handoff_reasons, columns=["reason", "count"]),
            pd.DataFrame(a.top_problems, columns=["problem", "answers"]),
            pd.DataFrame(list(a.thumbs.items()), columns=["rating", "count"]),
        )

    @shown
    def audit() -> tuple[pd.DataFrame, str]:
        rows = service.audit_rows()
        frame = pd.DataFrame(rows, columns=["id", "at", "actor", "action", "detail"])
        return frame, temp_file("audit.csv", service.audit_export("csv"))

    with gr.Tab("Analytics"):
        refresh_btn = gr.Button("Refresh")
        per_day = gr.BarPlot(x="day", y="sessions", title="Sessions per day")
        rates = gr.Markdown()
        with gr.Row():
            reasons = gr.BarPlot(x="reason", y="count", title="Hand-off reasons")
            thumbs = gr.BarPlot(x="rating", y="count", title="Thumbs up / down")
        top = gr.Dataframe(interactive=False, label="Top problems")
        refresh_btn.click(refresh, None, [per_day, rates, reasons, top, thumbs], api_name="analytics")
    with gr.Tab("Audit log"):
        audit_btn = gr.Button("Refresh")
        audit_table = gr.Dataframe(interactive=False)
        audit_file = gr.File(label="Export (CSV)")
        audit_btn.click(audit, None, [audit_table, audit_file], api_name="audit")
