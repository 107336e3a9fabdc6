"""What customers asked that the knowledge could not answer: grouped by similarity, and the
"not covered" lines (issue #17) also by the concept the knowledge has no answer for."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from knowledge.embeddings import Embedder
from knowledge.versions import normalise
from server.store.feedback import FeedbackRow
from server.store.tables import TurnRow

UNANSWERED = ("refuse", "clarify", "handoff")


@dataclass(frozen=True)
class Asked:
    session_id: str
    text: str
    why: str  # refuse | clarify | handoff | not_covered | thumbs_down


@dataclass
class Group:
    texts: list[str]
    whys: Counter[str] = field(default_factory=Counter)
    sessions: set[str] = field(default_factory=set)

    @property
    def lead(self) -> str:
        return self.texts[0]


def unanswered(engine: Engine, limit: int = 2000) -> list[Asked]:
    """Customer lines answered by refuse/clarify/handoff, and the last line of thumbs-down sessions."""
    found: list[Asked] = []
    with Session(engine) as db:
        bots = db.scalars(
            select(TurnRow)
            .where(TurnRow.speaker == "bot", TurnRow.decision.in_(UNANSWERED))
            .order_by(TurnRow.id.desc())
            .limit(limit)
        ).all()
        for bot in bots:
            asked = db.scalars(
                select(TurnRow.text).where(TurnRow.session_id == bot.session_id, TurnRow.seq == bot.seq - 1)
            ).first()
            if asked:
                why = "not_covered" if bot.reason == "not_covered" else str(bot.decision)
                found.append(Asked(bot.session_id, asked, why))
        down = db.scalars(select(FeedbackRow.session_id).where(FeedbackRow.rating == "down")).all()
        for session_id in dict.fromkeys(down):
            last = db.scalars(
                select(TurnRow.text)
                .where(TurnRow.session_id == session_id, TurnRow.speaker == "customer")
                .order_by(TurnRow.seq.desc())
            ).first()
            if last:
                found.append(Asked(session_id, last, "thumbs_down"))
    return found


def group(asked: list[Asked], embedder: Embedder, threshold: float, known: set[str]) -> list[Group]:
    """Greedy grouping by cosine similarity to each group's first text; known questions are left out."""
    fresh = [a for a in asked if normalise(a.text) not in known]
    texts = list(dict.fromkeys(a.text for a in fresh))
    if not texts:
        return []
    vectors = embedder.embed(texts)
    leads: list[int] = []
    groups: list[Group] = []
    slot: dict[str, Group] = {}
    for n, text in enumerate(texts):
        best = max(((float(vectors[n] @ vectors[m]), g) for g, m in enumerate(leads)), default=(0.0, -1))
        if best[0] >= threshold:
            groups[best[1]].texts.append(text)
            slot[text] = groups[best[1]]
        else:
            leads.append(n)
            groups.append(Group([text]))
            slot[text] = groups[-1]
    for a in fresh:
        slot[a.text].whys[a.why] += 1
        slot[a.text].sessions.add(a.session_id)
    return sorted(groups, key=lambda g: len(g.sessions), reverse=True)


@dataclass
class ConceptGroup:
    """The "not covered" lines that name one concept the knowledge has no answer for."""

    concept: str
    texts: list[str] = field(default_factory=list)
    sessions: set[str] = field(default_factory=set)


def by_concept(asked: list[Asked], concepts_of: Callable[[str], list[str]]) -> list[ConceptGroup]:
    """Not-covered lines grouped by each missing concept they name (most sessions first);
    lines that name none are grouped as "(no concept named)"."""
    groups: dict[str, ConceptGroup] = {}
    for a in asked:
        if a.why != "not_covered":
            continue
        for concept in concepts_of(a.text) or ["(no concept named)"]:
            g = groups.setdefault(concept, ConceptGroup(concept))
            if a.text not in g.texts:
                g.texts.append(a.text)
            g.sessions.add(a.session_id)
    return sorted(groups.values(), key=lambda g: (-len(g.sessions), g.concept))
