"""A card number the customer says over two voice turns (they paused) is masked in both stored turns:
the conversation stage, the real store on SQLite (``server.turn_digits``)."""

from __future__ import annotations

from pathlib import Path

from pipecat.frames.frames import TranscriptionFrame

from server.operator.states import SessionMode
from server.store.store import Store
from server.voice.conversation import ConversationStage
from server.voice.gate import OpenGate
from server.voice.marks import Marks
from tests.voice.stubs import AvatarStandIn, empty_brain, running


class _OperatorAnswers(OpenGate):
    """A session an operator has taken over: the Brain only hears the customer."""

    @property
    def mode(self) -> SessionMode:
        return SessionMode.HUMAN


def _on_disk(tmp_path: Path) -> str:
    return b"".join(p.read_bytes() for p in tmp_path.glob("c.db*")).decode("latin-1")


async def test_a_card_number_over_two_voice_turns_is_masked_in_both(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    store = Store.from_url(f"sqlite:///{db}")
    brain, _ = empty_brain()
    stage = ConversationStage(
        session_id="split", brain=brain, store=store, channel="voice", marks=Marks(), gate=_OperatorAnswers()
    )
    end = AvatarStandIn()
    async with running(stage, end) as worker:
        await stage.open()
        for n, said in enumerate(["My card number is 4111 1111.", "1111 1112."], start=1):
            await worker.queue_frame(TranscriptionFrame(text=said, user_id="c", timestamp=""))
            await end.wait_for(lambda n=n: len(end.events("transcript")) >= n)
    texts = [t.text for t in store.transcript("split") if t.speaker == "customer"]
    store.close()
    assert texts[0] == "My card number is [card ending 1112]."
    assert texts[-1].endswith("[card ending 1112].") and not any("1111" in t for t in texts)
    on_disk = _on_disk(tmp_path)
    assert "4111 1111 1111 1112" not in on_disk and "1111 1112" not in on_disk
