"""The Brain's one way to learn turns it did not produce: ``Brain.hear``."""

from __future__ import annotations

import pytest

from server.brain.memory import Speaker
from server.brain.pii import MaskedText, mask_pii
from tests.voice.stubs import empty_brain


def _said(brain: object, session_id: str) -> list[tuple[Speaker, str]]:
    return [(t.speaker, t.text) for t in brain.memory.get(session_id).turns]  # type: ignore[attr-defined]


def test_lines_heard_are_remembered_as_their_speakers() -> None:
    brain, _ = empty_brain()
    brain.hear("s1", Speaker.CUSTOMER, mask_pii("it was my card 4111 1111 1111 1111"))
    brain.hear("s1", Speaker.OPERATOR, mask_pii("Thanks, I can see it."))
    assert _said(brain, "s1") == [
        (Speaker.CUSTOMER, "it was my card [card ending 1111]"),
        (Speaker.OPERATOR, "Thanks, I can see it."),
    ]
    with pytest.raises(ValueError, match="own replies"):
        brain.hear("s1", Speaker.BOT, mask_pii("hello"))


def test_a_rewritten_or_rejected_draft_is_forgotten_and_the_question_stays() -> None:
    brain, _ = empty_brain()
    draft = brain.respond("s2", mask_pii("what is the weather?"))
    assert _said(brain, "s2")[-1] == (Speaker.BOT, draft.text)
    edit = mask_pii("Sorry, I can only help with banking.")
    brain.hear("s2", Speaker.OPERATOR, edit, instead_of=draft)
    assert _said(brain, "s2") == [(Speaker.CUSTOMER, "what is the weather?"), (Speaker.OPERATOR, edit)]

    rejected = brain.respond("s3", mask_pii("and the football?"))
    brain.hear("s3", Speaker.OPERATOR, None, instead_of=rejected)
    assert _said(brain, "s3") == [(Speaker.CUSTOMER, "and the football?")]


def test_masked_text_is_not_masked_again() -> None:
    masked = mask_pii("call me on 07700 900123")
    assert isinstance(masked, MaskedText) and masked == "call me on [phone]"
    assert mask_pii(masked) is masked
    assert not isinstance(masked + "!", MaskedText)  # new text is masked again where it is needed
