"""Everything the admin does, as plain methods (the Gradio UI is a thin layer over these)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass
from typing import Any

from knowledge.index import KnowledgeIndex, make_client
from knowledge.io import Format, export_kb, import_kb
from knowledge.retrieval import Candidate, Retriever
from knowledge.schema import KnowledgeBase
from knowledge.versions import RegressionQuestion, ReleaseLog, normalise
from server.admin.checks import Issue, Level, check_problem
from server.admin.diff import KbDiff, diff_kb
from server.admin.drafts import Draft, DraftState, DraftStore
from server.admin.editing import ProblemForm, add_similar_question, upsert_problem
from server.admin.inbox import ConceptGroup, Group, by_concept, group, unanswered
from server.admin.publish import Published, Publisher
from server.auth.service import store_engine
from server.auth.users import Role, StaffUser
from server.brain.brain import Brain, BrainReply
from server.brain.memory import MemoryStore
from server.brain.pii import mask_pii
from server.runtime import Runtime, open_retriever, policy_config

EDITORS = frozenset({Role.EDITOR, Role.SUPERVISOR, Role.ADMIN})
REVIEWERS = frozenset({Role.SUPERVISOR, Role.ADMIN})


class Forbidden(PermissionError):
    """This user's role may not do that here."""


@dataclass(frozen=True)
class SaveResult:
    saved: bool
    issues: list[Issue]
    draft: Draft


@dataclass(frozen=True)
class PlaygroundResult:
    reply: BrainReply
    candidates: list[Candidate]
    version_label: str
    session_id: str  # ask again with it to continue the conversation (a clarification's answer)


class AdminService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine = store_engine(runtime.store)
        self.drafts = DraftStore(self.engine)
        self.releases = ReleaseLog(runtime.index, runtime.settings.knowledge.index_dir)
        self.publisher = Publisher(runtime, self.releases)
        ks = runtime.settings.knowledge
        preview_dir = ks.index_dir / "preview"
        self._preview_index = KnowledgeIndex(
            make_client(preview_dir, ks.chroma_url), runtime.index.embedder, preview_dir,
            f"{ks.collection_prefix}_preview",
        )  # fmt: skip
        self._preview: Retriever | None = None
        self._retrievers: dict[int, Retriever] = {}
        self._playground_memory = MemoryStore(max_turns=runtime.settings.brain.memory_turns)

    # -- who may do what -------------------------------------------------------------------------
    @staticmethod
    def require(user: StaffUser, roles: frozenset[Role]) -> None:
        if user.role not in roles:
            raise Forbidden(f"role {user.role.value} may not do that")

    # -- the draft -------------------------------------------------------------------------------
    def live_version(self) -> int:
        return self.runtime.brain.retriever.version

    def draft(self, user: StaffUser) -> Draft:
        self.require(user, EDITORS)
        current = self.drafts.current()
        if current is not None:
            return current
        version = self.live_version()
        return self.drafts.open(self.releases.source(version), version, user.name)

    def _commit(self, user: StaffUser, kb: KnowledgeBase, action: str, **detail: Any) -> Draft:
        draft = self.draft(user)
        change = diff_kb(draft.kb, kb)
        saved = self.drafts.save(draft.id, kb)
        self.runtime.store.audit(user.name, action, draft_id=draft.id, diff=change.as_dict(), **detail)
        return saved

    def edit(self, user: StaffUser, kb: KnowledgeBase, action: str, **detail: Any) -> Draft:
        """Store an edited copy of the draft (from editing.py) and audit it."""
        self.require(user, EDITORS)
        return self._commit(user, kb, action, **detail)

    def check(self, user: StaffUser, form: ProblemForm) -> list[Issue]:
        kb = self.draft(user).kb
        retriever = self.runtime.brain.retriever
        index = self.runtime.index

        def nearest(text: str) -> list[tuple[str, float]]:
            hits = index.query(retriever.version, index.embedder.embed_one(text), 5)
            return [(h.problem_id, h.similarity) for h in hits]

        threshold = self.runtime.settings.admin.collision_threshold
        return check_problem(
            kb,
            problem_id=form.problem_id,
            standard_question=form.standard_question,
            similar_questions=form.similar_questions,
            answer=form.answer,
            nearest=nearest,
            threshold=threshold,
        )

    def save_problem(
        self, user: StaffUser, form: ProblemForm, *, accept_warnings: bool = False
    ) -> SaveResult:
        self.require(user, EDITORS)
        issues = self.check(user, form)
        draft = self.draft(user)
        blocked = any(i.level is Level.ERROR for i in issues) or (issues and not accept_warnings)
        if blocked:
            return SaveResult(False, issues, draft)
        kb = upsert_problem(draft.kb, form)
        return SaveResult(True, issues, self._commit(user, kb, "kb.save_problem", problem_id=form.problem_id))

    # -- import / export -------------------------------------------------------------------------
    def export(self, user: StaffUser, fmt: Format, source: str = "draft") -> bytes:
        self.require(user, EDITORS)
        kb = self.draft(user).kb if source == "draft" else self.releases.source(self.live_version())
        data = export_kb(kb, fmt)
        self.runtime.store.audit(user.name, "kb.export", format=str(fmt), source=source, bytes=len(data))
        return data

    def preview_import(self, user: StaffUser, data: bytes, fmt: Format) -> tuple[KnowledgeBase, KbDiff]:
        draft = self.draft(user)
        imported = import_kb(data, fmt, draft.kb)
        return imported, diff_kb(draft.kb, imported)

    def apply_import(self, user: StaffUser, kb: KnowledgeBase) -> Draft:
        return self.edit(user, kb, "kb.import")

    # -- review and publish ----------------------------------------------------------------------
    def submit(self, user: StaffUser) -> Draft:
        draft = self.draft(user)
        moved = self.drafts.move(draft.id, DraftState.IN_REVIEW, user.name)
        self.runtime.store.audit(user.name, "kb.submit", draft_id=draft.id)
        return moved

    def approve(self, user: StaffUser) -> Draft:
        self.require(user, REVIEWERS)
        draft = self.draft(user)
        if draft.state is DraftState.IN_REVIEW and draft.submitted_by == user.name:
            raise Forbidden("a draft is reviewed by someone other than who submitted it")
        moved = self.drafts.move(draft.id, DraftState.APPROVED, user.name)
        self.runtime.store.audit(user.name, "kb.approve", draft_id=draft.id)
        return moved

    def reject(self, user: StaffUser, why: str = "") -> Draft:
        self.require(user, REVIEWERS)
        draft = self.draft(user)
        moved = self.drafts.move(draft.id, DraftState.EDITING, user.name, reviewed_by=None)
        self.runtime.store.audit(user.name, "kb.reject", draft_id=draft.id, why=why)
        return moved

    def discard(self, user: StaffUser) -> None:
        draft = self.draft(user)
        self.drafts.move(draft.id, DraftState.DISCARDED, user.name)
        self.runtime.store.audit(user.name, "kb.discard", draft_id=draft.id)

    def add_golden(self, user: StaffUser, text: str, problem_id: str) -> None:
        """A question the given problem must keep answering (top-1) on every publish."""
        self.require(user, EDITORS)
        if len(text.strip()) < 3:
            raise ValueError("write the customer's question")
        if problem_id.strip() not in {r.problem.id for r in self.draft(user).kb.problem_refs()}:
            raise LookupError(f"no live problem {problem_id.strip()!r} in the draft")
        self.drafts.add_golden(text.strip(), problem_id.strip(), user.name)
        self.runtime.store.audit(user.name, "kb.golden_add", problem_id=problem_id.strip(), text=text.strip())

    def remove_golden(self, user: StaffUser, golden_id: int) -> None:
        """Removing a question weakens the gate, so only a reviewer may."""
        self.require(user, REVIEWERS)
        row = next((g for g in self.drafts.golden() if g.id == golden_id), None)
        if row is None:
            raise LookupError(f"no golden question #{golden_id}")
        self.drafts.remove_golden(golden_id)
        self.runtime.store.audit(user.name, "kb.golden_remove", problem_id=row.problem_id, text=row.text)

    def golden_questions(self) -> list[RegressionQuestion]:
        return [RegressionQuestion(g.text, g.problem_id, "golden") for g in self.drafts.golden()]

    def publish(self, user: StaffUser, note: str = "") -> Published:
        self.require(user, EDITORS)
        draft = self.draft(user)
        if draft.state is not DraftState.APPROVED and not self.runtime.settings.admin.single_step_publish:
            raise Forbidden("a supervisor or admin must approve the draft before it is published")
        before = self.releases.source(self.live_version())
        published = self.publisher.publish(
            draft.kb, self.golden_questions(), user.name, draft.reviewed_by, note
        )
        self.drafts.move(draft.id, DraftState.PUBLISHED, user.name, published_version=published.version)
        self.runtime.store.audit(
            user.name, "kb.publish", version=published.version, draft_id=draft.id,
            diff=diff_kb(before, draft.kb).as_dict(), gate=published.report.summary(),
        )  # fmt: skip
        return published

    def rollback(self, user: StaffUser, version: int) -> None:
        self.require(user, REVIEWERS)
        previous = self.live_version()
        self.publisher.rollback(version)
        self.runtime.store.audit(user.name, "kb.rollback", version=version, previous=previous)

    # -- playground ------------------------------------------------------------------------------
    def build_preview(self, user: StaffUser) -> int:
        """Index the draft (without its held-back questions) in a separate preview store."""
        from knowledge.versions import split_holdout

        draft = self.draft(user)
        indexed, _ = split_holdout(draft.kb, self.runtime.settings.admin.holdout_percent)
        self._preview_index.build(indexed, draft.id)
        self._preview = open_retriever(self._preview_index, self.runtime.settings, draft.id)
        return draft.id

    def retriever_for(self, target: str) -> tuple[Retriever, str]:
        if target == "draft":
            if self._preview is None:
                raise LookupError("build the draft preview first")
            return self._preview, f"draft {self._preview.version} (preview)"
        if target == "live":
            live = self.runtime.brain.retriever
            return live, f"live v{live.version}"
        version = int(target.lstrip("v"))
        if version not in self._retrievers:
            self._retrievers[version] = open_retriever(self.runtime.index, self.runtime.settings, version)
        return self._retrievers[version], f"v{version}"

    def ask(self, text: str, target: str = "live", session_id: str | None = None) -> PlaygroundResult:
        """What the live Brain (same policy, memory size and answer writer) replies on ``target``."""
        retriever, label = self.retriever_for(target)
        rt = self.runtime
        brain = Brain(retriever, policy_config(rt.settings), self._playground_memory, rt.writer)
        session = session_id or f"playground-{uuid.uuid4().hex}"
        reply = brain.respond(session, text)
        return PlaygroundResult(reply, retriever.retrieve(mask_pii(text)).candidates, label, session)

    # -- unanswered inbox ------------------------------------------------------------------------
    def inbox(self, user: StaffUser) -> list[Group]:
        kb = self.draft(user).kb
        known = {normalise(q) for ref in kb.problem_refs(include_retired=True) for q in ref.problem.questions}
        threshold = self.runtime.settings.admin.inbox_group_threshold
        return group(unanswered(self.engine), self.runtime.index.embedder, threshold, known)

    def inbox_concepts(self) -> list[ConceptGroup]:
        """The "not covered" questions by the concept the live knowledge has no answer for."""
        retriever = self.runtime.brain.retriever
        return by_concept(
            unanswered(self.engine),
            lambda text: retriever.concepts.uncovered(retriever.lexicon.mentions(text)),
        )

    def suggest(self, user: StaffUser, text: str) -> tuple[str, float] | None:
        """The draft problem the live index finds nearest to ``text`` (problem id, score)."""
        best = self.runtime.brain.retriever.retrieve(mask_pii(text)).best
        if best is None:
            return None
        known = {ref.problem.id for ref in self.draft(user).kb.problem_refs()}
        return (best.ref.problem.id, best.score) if best.ref.problem.id in known else None

    def inbox_add_similar(self, user: StaffUser, text: str, problem_id: str) -> Draft:
        self.require(user, EDITORS)
        kb = add_similar_question(self.draft(user).kb, problem_id, text)
        return self._commit(user, kb, "kb.inbox_add_similar", problem_id=problem_id)

    # -- audit -----------------------------------------------------------------------------------
    def audit_rows(self) -> list[dict[str, Any]]:
        rows = self.runtime.store.audit_log()
        return [
            {"id": r.id, "at": r.at.isoformat(timespec="seconds"), "actor": r.actor, "action": r.action,
             "detail": json.dumps(r.detail, ensure_ascii=False, default=str)}
            for r in rows
            if r.action.startswith("kb.")
        ]  # fmt: skip

    def audit_export(self, fmt: str = "csv") -> bytes:
        rows = self.audit_rows()
        if fmt == "jsonl":
            return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
        out = io.StringIO(newline="")
        writer = csv.DictWriter(out, fieldnames=["id", "at", "actor", "action", "detail"])
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().encode("utf-8")
