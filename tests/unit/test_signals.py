"""Wording that escalates or is small talk."""

from __future__ import annotations

import pytest

from server.brain.signals import read_signals


@pytest.mark.parametrize(
    "text",
    [
        "I want to talk to a real person",
        "can I speak with an agent",
        "connect me to someone",
        "human agent please",
    ],
)
def test_requests_for_a_person(text: str) -> None:
    assert read_signals(text).wants_human


@pytest.mark.parametrize(
    "text", ["I want to make a complaint", "This is unacceptable!", "I'll go to the ombudsman"]
)
def test_complaints(text: str) -> None:
    assert read_signals(text).complaint


@pytest.mark.parametrize("text", ["my card was stolen", "someone used my card", "I think this is fraud"])
def test_urgent(text: str) -> None:
    assert read_signals(text).urgent


@pytest.mark.parametrize(
    "text", ["my card has not arrived", "how do I top up", "what is the person-to-person transfer limit"]
)
def test_ordinary_questions_do_not_escalate(text: str) -> None:
    assert not read_signals(text).escalate


def test_small_talk() -> None:
    assert read_signals("Hello!").greeting
    assert read_signals("thanks, that's all").thanks
    assert not read_signals("hello, my card is broken").greeting
