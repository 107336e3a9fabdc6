"""Numbers for the content team: sessions per day, answer and hand-off rates, top problems, feedback."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from server.store.feedback import FeedbackRow
from server.store.tables import SessionRow, TurnRow


@dataclass(frozen=True)
class Analytics:
    sessions_per_day: list[tuple[str, int]]
    sessions: int
    answered_without_human_rate: float
    handoff_rate: float
    handoff_reasons: list[tuple[str, int]]
    top_problems: list[tuple[str, int]]
    thumbs: dict[str, int]


def analytics(engine: Engine, top: int = 10) -> Analytics:
    with Session(engine) as db:
        created = db.scalars(select(SessionRow.created_at)).all()
        bot_turns = db.execute(
            select(TurnRow.session_id, TurnRow.decision, TurnRow.reason, TurnRow.citations).where(
                TurnRow.speaker == "bot"
            )
        ).all()
        ratings = db.scalars(select(FeedbackRow.rating)).all()
    per_day = Counter(c.date().isoformat() for c in created)
    decisions: dict[str, set[str]] = defaultdict(set)
    reasons: Counter[str] = Counter()
    problems: Counter[str] = Counter()
    for session_id, decision, reason, citations in bot_turns:
        decisions[session_id].add(str(decision))
        if decision == "handoff":
            reasons[str(reason)] += 1
        if decision == "answer" and citations:
            problems[str(citations[0].get("problem_id"))] += 1
    talked = len(decisions) or 1
    handed = sum(1 for d in decisions.values() if "handoff" in d)
    answered = sum(1 for d in decisions.values() if "answer" in d and "handoff" not in d)
    return Analytics(
        sessions_per_day=sorted(per_day.items()),
        sessions=len(created),
        answered_without_human_rate=answered / talked if decisions else 0.0,
        handoff_rate=handed / talked if decisions else 0.0,
        handoff_reasons=reasons.most_common(),
        top_problems=problems.most_common(top),
        thumbs={"up": ratings.count("up"), "down": ratings.count("down")},
    )
