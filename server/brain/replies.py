"""What the teller says for each decision, built only from approved knowledge."""

from __future__ import annotations

from knowledge.retrieval import Candidate
from knowledge.schema import KnowledgeBase
from server.brain.policy import Reason, Verdict

HANDOFF_LINES = {
    Reason.CUSTOMER_REQUEST: (
        "Of course. I'm connecting you with a colleague now. They will see our conversation, "
        "so you won't need to repeat yourself."
    ),
    Reason.COMPLAINT: (
        "I'm sorry about this. I'm passing you to a colleague right away so your complaint "
        "is handled properly."
    ),
    Reason.URGENT: "I'm also connecting you with a colleague right now.",
    Reason.ACCOUNT_DATA: (
        "I can't see your account from here, so I can't look that up myself. A colleague can check "
        "it with you: I've asked one to join us."
    ),
    Reason.SECURITY: (
        "A colleague needs to do this with you, so I'm connecting you with one right now, "
        "ahead of other questions. Please stay with me."
    ),
    Reason.LOW_CONFIDENCE: (
        "I'm sorry, I'm not sure I've understood. Let me connect you with a colleague who can help."
    ),
}


def scope_line(kb: KnowledgeBase) -> str:
    names = [p.name for p in kb.products]
    listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
    return f"I can help with {listed}."


def _label(candidate: Candidate, other: Candidate) -> str:
    if candidate.ref.product_id != other.ref.product_id:
        return f"your {candidate.ref.product_name.lower()}"
    return candidate.ref.scenario_name.lower()


def clarify_text(first: Candidate, second: Candidate) -> str:
    return (
        "Just to make sure I help with the right thing: is this about "
        f"{_label(first, second)}, or {_label(second, first)}?"
    )


def not_covered_text(missing: str | None) -> str:
    """Honest about what the approved knowledge does not cover, and a colleague offered."""
    subject = f"about {missing}" if missing else "for that question"
    return (
        f"I'm sorry, I don't have an approved answer {subject}, and I don't want to guess "
        "when it's about your money. I've passed your question to a colleague, who will pick it "
        "up here as soon as they can."
    )


def reply_text(verdict: Verdict, kb: KnowledgeBase) -> str:
    """The spoken reply for ``verdict``; answers are the approved text, verbatim."""
    reason = verdict.reason
    if reason is Reason.CONFIDENT:
        return verdict.candidates[0].ref.problem.answer
    if reason is Reason.AMBIGUOUS:
        return clarify_text(verdict.candidates[0], verdict.candidates[1])
    if reason is Reason.FOLLOW_UP:
        topic = verdict.candidates[0].ref.scenario_name.lower() if verdict.candidates else "that"
        return (
            f"I want to be sure I answer the right thing. Is your question still about {topic}? "
            "Could you tell me a little more?"
        )
    if reason is Reason.NOT_COVERED:
        return not_covered_text(verdict.missing)
    if reason is Reason.SMALL_TALK:
        return f"Hello, I'm {kb.name}'s digital teller. {scope_line(kb)} What can I do for you?"
    if reason in HANDOFF_LINES and verdict.decision.value == "handoff":
        line = HANDOFF_LINES[reason]
        if reason is Reason.SECURITY:
            return f"{verdict.candidates[0].ref.problem.answer} {line}" if verdict.candidates else line
        if reason is Reason.URGENT:
            steps = (
                verdict.candidates[0].ref.problem.answer
                if verdict.candidates
                else "Please freeze your card in the app straight away: open Card and tap Freeze."
            )
            return f"{steps} {line}"
        return line
    return f"I'm sorry, that's not something I can help with here. {scope_line(kb)}"
