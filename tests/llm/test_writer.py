"""The generative writer against a scripted OpenAI-compatible server: guard, fallbacks, streaming."""

from __future__ import annotations

import threading

import pytest

from knowledge.schema import KnowledgeBase
from server.brain.generative import AnswerRequest
from server.brain.llm import GenerativeWriter, GuardFailure, LlmUnavailable, Source
from server.brain.llm.client import ChatClient, LlmConfig
from tests.llm.conftest import FakeLlm


def request_for(kb: KnowledgeBase, problem_id: str, question: str = "I lost my card") -> AnswerRequest:
    ref = next(r for r in kb.problem_refs() if r.problem.id == problem_id)
    return AnswerRequest("s1", question, (ref,), (), ref.problem.answer, kb.name)


def test_grounded_stream_is_spoken_sentence_by_sentence(fake_llm: FakeLlm, demo_kb: KnowledgeBase) -> None:
    fake_llm.script.chunks = ["Please freeze your card ", "in the app right away [lost_or_stolen_card]. ",
                              "A replacement is £5 if it was lost."]  # fmt: skip
    writer = GenerativeWriter(fake_llm.client())
    outcome = writer.answer(request_for(demo_kb, "lost_or_stolen_card"))
    assert [s.source for s in outcome.sentences] == [Source.GENERATED, Source.GENERATED]
    assert outcome.sentences[0].text == "Please freeze your card in the app right away."
    assert outcome.sentences[0].cites == ("lost_or_stolen_card",)
    assert outcome.error is None and not outcome.guard_fired
    sent = fake_llm.script.requests[0]
    assert sent["stream"] is True and "[lost_or_stolen_card]" in sent["messages"][0]["content"]


def test_invented_numbers_are_replaced_by_the_approved_answer_once(
    fake_llm: FakeLlm, demo_kb: KnowledgeBase
) -> None:
    fake_llm.script.chunks = ["Please freeze your card in the app. ", "A replacement costs £25. ",
                              "It arrives in 2 days. ", "Freeze it in the app right away."]  # fmt: skip
    writer = GenerativeWriter(fake_llm.client())
    request = request_for(demo_kb, "lost_or_stolen_card")
    outcome = writer.answer(request)
    sources = [s.source for s in outcome.sentences]
    assert sources == [Source.GENERATED, Source.APPROVED, Source.GENERATED]
    assert outcome.sentences[1].text == request.approved
    assert outcome.sentences[1].replaced is GuardFailure.NUMBER
    assert outcome.guard_fired == [GuardFailure.NUMBER, GuardFailure.NUMBER]
    assert "25" not in outcome.text and " 2 days" not in outcome.text
    assert writer.stats.snapshot()["guard_fired"] == 2


@pytest.mark.parametrize("fault", ["down", "slow", "malformed", "http_500", "empty"])
def test_failures_fall_back_to_the_approved_answer(
    fault: str, fake_llm: FakeLlm, demo_kb: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    client = fake_llm.client(first_token_budget_ms=300 if fault == "slow" else 30_000)
    if fault == "down":
        client = ChatClient(LlmConfig(base_url="http://127.0.0.1:9/v1", model="x", first_token_budget_ms=300))
    if fault == "slow":
        fake_llm.script.gate = threading.Event()  # the first token is held until the answer is out
    fake_llm.script.raw = {"malformed": b"data: {not json\n\n", "empty": b"data: [DONE]\n\n"}.get(fault)
    fake_llm.script.status = 500 if fault == "http_500" else 200
    writer = GenerativeWriter(client)
    request = request_for(demo_kb, "lost_or_stolen_card")
    outcome = writer.answer(request)
    if fake_llm.script.gate is not None:
        fake_llm.script.gate.set()
    assert outcome.text == request.approved
    assert [s.source for s in outcome.sentences] == [Source.APPROVED]
    expected = {"down": "unavailable", "slow": "timeout", "http_500": "unavailable", "malformed": "malformed"}
    assert outcome.error == expected.get(fault)  # an empty answer is no error: the approved one is spoken
    logged = [r for r in caplog.records if "LLM failed" in r.getMessage()]
    assert len(logged) == (0 if fault == "empty" else 1)
    client.close()


def test_slow_first_token_falls_back_within_the_budget(fake_llm: FakeLlm, demo_kb: KnowledgeBase) -> None:
    fake_llm.script.gate = threading.Event()  # no token is sent until the writer has answered
    writer = GenerativeWriter(fake_llm.client(first_token_budget_ms=300))
    try:
        outcome = writer.answer(request_for(demo_kb, "lost_or_stolen_card"))
    finally:
        fake_llm.script.gate.set()
    assert outcome.error == "timeout"


async def test_async_stream_yields_before_the_answer_ends(fake_llm: FakeLlm, demo_kb: KnowledgeBase) -> None:
    fake_llm.script.chunks = ["Please freeze your card in the app right away. ", "Check Home for payments."]
    writer = GenerativeWriter(fake_llm.client())
    got = [s async for s in writer.stream_answer(request_for(demo_kb, "lost_or_stolen_card"))]
    assert [s.source for s in got] == [Source.GENERATED, Source.GENERATED]
    await writer.client.aclose()


async def test_async_timeout_and_down_fall_back(fake_llm: FakeLlm, demo_kb: KnowledgeBase) -> None:
    fake_llm.script.gate = threading.Event()  # no token is sent until the writer has answered
    writer = GenerativeWriter(fake_llm.client(first_token_budget_ms=300))
    request = request_for(demo_kb, "lost_or_stolen_card")
    try:
        got = [s async for s in writer.stream_answer(request)]
    finally:
        fake_llm.script.gate.set()
    assert [s.text for s in got] == [request.approved]
    await writer.client.aclose()
    down = ChatClient(LlmConfig(base_url="http://127.0.0.1:9/v1", model="x"))
    with pytest.raises(LlmUnavailable) as info:
        _ = [c async for c in down.astream([{"role": "user", "content": "hi"}])]
    assert info.value.retryable
    await down.aclose()


def test_brain_uses_the_writer_only_for_answers(demo_kb: KnowledgeBase) -> None:
    from server.brain.brain import Brain
    from server.brain.memory import MemoryStore
    from server.brain.policy import PolicyConfig

    class Recorder:
        def __init__(self) -> None:
            self.requests: list[AnswerRequest] = []

        def write(self, request: AnswerRequest) -> str:
            self.requests.append(request)
            return "generated"

    assert Brain.__init__.__code__.co_varnames[4] == "writer"
    recorder = Recorder()
    assert isinstance(recorder.write(request_for(demo_kb, "card_arrival")), str)
    _ = (Brain, MemoryStore, PolicyConfig)
