"""What changed between two knowledge bases, per problem and field, for review and audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from knowledge.io import lexicon_rows, problem_rows


@dataclass
class KbDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)
    lexicon_added: list[str] = field(default_factory=list)
    lexicon_removed: list[str] = field(default_factory=list)
    lexicon_changed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(
            [
                self.added,
                self.removed,
                self.changed,
                self.lexicon_added,
                self.lexicon_removed,
                self.lexicon_changed,
            ]
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": {pid: {f: list(v) for f, v in fields.items()} for pid, fields in self.changed.items()},
            "lexicon_added": self.lexicon_added,
            "lexicon_removed": self.lexicon_removed,
            "lexicon_changed": self.lexicon_changed,
        }

    def table(self) -> list[list[str]]:
        """Rows ``[change, node, field, before, after]`` for display."""
        rows = [["added", pid, "", "", ""] for pid in self.added]
        rows += [["removed", pid, "", "", ""] for pid in self.removed]
        for pid, fields in self.changed.items():
            rows += [["changed", pid, f, _show(a), _show(b)] for f, (a, b) in fields.items()]
        rows += [["lexicon added", w, "", "", ""] for w in self.lexicon_added]
        rows += [["lexicon removed", w, "", "", ""] for w in self.lexicon_removed]
        rows += [["lexicon changed", w, "", "", ""] for w in self.lexicon_changed]
        return rows


def _show(value: Any) -> str:
    text = "\n".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= 400 else text[:400] + "…"


def diff_kb(old: Any, new: Any) -> KbDiff:
    """``old`` and ``new`` are KnowledgeBase objects."""
    before = {r["problem_id"]: r for r in problem_rows(old)}
    after = {r["problem_id"]: r for r in problem_rows(new)}
    result = KbDiff(
        added=[p for p in after if p not in before],
        removed=[p for p in before if p not in after],
    )
    for pid in before.keys() & after.keys():
        fields = {
            k: (before[pid][k], after[pid][k])
            for k in after[pid]
            if k != "version" and before[pid][k] != after[pid][k]
        }
        if fields:
            result.changed[pid] = fields
    lex_before = {f"{r['kind']}:{r['word']}": r for r in lexicon_rows(old.lexicon)}
    lex_after = {f"{r['kind']}:{r['word']}": r for r in lexicon_rows(new.lexicon)}
    result.lexicon_added = [w for w in lex_after if w not in lex_before]
    result.lexicon_removed = [w for w in lex_before if w not in lex_after]
    result.lexicon_changed = [w for w in lex_after if w in lex_before and lex_before[w] != lex_after[w]]
    result.changed = dict(sorted(result.changed.items()))
    return result
