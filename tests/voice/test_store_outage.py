"""A store that stays unreachable: the customer and the operator are told, nothing unsaved is acknowledged.

The database here is real and absent: a PostgreSQL URL on a port nothing listens on, so
every write fails the way a long outage does (connection refused, retried, then
``StoreUnavailable``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pipecat.frames.frames import TranscriptionFrame

from server.operator.commands import TakeOver
from server.operator.states import ModeMachine, SessionMode
from server.store.retry import RetryPolicy
from server.store.store import Store, open_store_engine
from server.voice.conversation import NOT_SAVED, ConversationStage
from server.voice.gate import TakeoverGate
from server.voice.marks import Marks
from server.voice.takeover import TakeoverControl
from tests.store.pg import free_port
from tests.voice.stubs import AvatarStandIn, empty_brain, running
from tests.voice.test_takeover_control import SID, _Report, _run, _Voice

FAST = RetryPolicy(attempts=2, first_delay_s=0.01, max_delay_s=0.01)


@pytest.fixture()
def dead_store() -> Iterator[Store]:
    store = Store(open_store_engine(f"postgresql+psycopg://teller@127.0.0.1:{free_port()}/none"), FAST)
    yield store
    store.close()


async def test_a_line_that_cannot_be_saved_is_not_shown_as_taken_and_the_customer_is_told(
    dead_store: Store,
) -> None:
    brain, retriever = empty_brain()
    stage = ConversationStage(session_id="o1", brain=brain, store=dead_store, channel="voice", marks=Marks())
    end = AvatarStandIn()
    async with running(stage, end) as worker:
        await worker.queue_frame(TranscriptionFrame(text="what is my balance", user_id="c", timestamp=""))
        await end.wait_for(end.spoken)
    assert end.spoken() == [NOT_SAVED]
    errors = end.events("error")
    assert [(e["code"], e["retryable"]) for e in errors] == [("store_unavailable", True)]
    assert end.events("transcript") == []  # the line was never acknowledged
    assert retriever.asked == []  # nor answered
    assert brain.memory.get("o1").turns == []


async def test_an_operator_command_the_store_cannot_record_is_refused_as_retryable(dead_store: Store) -> None:
    brain, _ = empty_brain()
    report, voice = _Report(), _Voice()
    gate = TakeoverGate(report, ModeMachine(SID, dead_store))  # type: ignore[arg-type]
    control = TakeoverControl(voice, gate, brain, disclose_human=True)
    control.start()
    try:
        refused = await _run(report, TakeOver(client_msg_id="1", session_id=SID))
        assert refused is not None and refused.code == "not_saved" and refused.retryable
        assert gate.mode is SessionMode.BOT  # the takeover that was not recorded did not happen
    finally:
        await control.close()
