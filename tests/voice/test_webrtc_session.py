"""A real WebRTC customer (aiortc) talks to a real session: VAD, Whisper, Brain, Piper, avatar."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import numpy as np
import pytest

from bench.harness.voice_probe import VoiceProbe
from tests.voice.conftest import LiveServer

pytestmark = pytest.mark.slow

QUESTION = "My card still has not arrived. What should I do?"


def _pause(seconds: float) -> np.ndarray[Any, np.dtype[np.int16]]:
    return np.zeros(int(48_000 * seconds), dtype=np.int16)


async def test_question_by_voice_gets_a_spoken_grounded_answer_with_video(
    live_server: LiveServer, speak: Any
) -> None:
    async with VoiceProbe(live_server.base_url) as probe:
        await probe.wait_for(lambda: probe.events("session"), 60)
        await probe.say(np.concatenate([_pause(0.5), speak(QUESTION)]))
        transcript = await probe.wait_for(lambda: probe.events("transcript"), 60)
        assert "arrived" in transcript[0]["text"].lower()
        reply = (await probe.wait_for(lambda: probe.events("bot_text"), 60))[0]
        assert reply["decision"] == "answer"
        assert reply["citations"][0]["problem_id"] == "card_arrival"
        end = probe.utterance_ends[-1]
        await probe.wait_for(lambda: [t for t in probe.log.audio_onsets if t > end], 60)
        await probe.wait_for(lambda: probe.log.video_frames > 25, 30)
        assert probe.log.last_video is not None and probe.log.last_video.shape[:2] == (512, 512)
        assert probe.log.last_video.std() > 10  # a drawn teller, not a blank frame

        def settled() -> bool:  # what the customer heard is stored once the reply stops playing
            rows = live_server.runtime.store.transcript(probe.session_id)
            return len(rows) == 2 and rows[1].spoken_text is not None

        await probe.wait_for(settled, 120)
    turns = live_server.runtime.store.transcript(probe.session_id)
    assert [t.speaker for t in turns] == ["customer", "bot"]
    assert turns[1].spoken_text == turns[1].text


async def test_typed_text_and_talk_to_a_person_over_the_data_channel(live_server: LiveServer) -> None:
    async with VoiceProbe(live_server.base_url) as probe:
        await probe.wait_for(lambda: probe.events("session"), 60)
        probe.send({"type": "text", "text": "How do I change my PIN?"})
        reply = (await probe.wait_for(lambda: probe.events("bot_text"), 60))[0]
        assert reply["citations"][0]["problem_id"] == "change_pin"
        probe.send({"type": "human"})
        await probe.wait_for(lambda: len(probe.events("bot_text")) == 2, 60)
        assert probe.events("bot_text")[1]["decision"] == "handoff"
        probe.send({"type": "nonsense", "x": 1})
        error = (await probe.wait_for(lambda: probe.events("error"), 30))[0]
        assert error["code"] == "bad_message"


async def test_barge_in_stops_the_reply_and_the_transcript_keeps_only_what_was_heard(
    live_server: LiveServer, speak: Any
) -> None:
    async with VoiceProbe(live_server.base_url) as probe:
        await probe.wait_for(lambda: probe.events("session"), 60)
        probe.send({"type": "text", "text": "How long does delivery of a new card take?"})
        await probe.wait_for(lambda: probe.log.audio_onsets, 60)
        await asyncio.sleep(1.5)
        await probe.say(speak("Sorry, actually how do I change my PIN?"))
        await probe.wait_for(lambda: len(probe.events("bot_text")) >= 2, 90)
        session = live_server.app.state.services.voice.manager.get(probe.session_id)
        assert session is not None and session.barge_in.interruptions >= 1
        await probe.wait_quiet(1.5, within=90)
    first_reply = live_server.runtime.store.transcript(probe.session_id)[1]
    assert first_reply.speaker == "bot"
    assert first_reply.spoken_text is not None
    assert 0 < len(first_reply.spoken_text) < len(first_reply.text)
    assert first_reply.text.startswith(first_reply.spoken_text)


async def test_beyond_capacity_a_new_customer_is_told_the_tellers_are_busy(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = live_server.app.state.services.voice.manager

    async def refused() -> httpx.Response:
        second = VoiceProbe(live_server.base_url)
        try:
            with pytest.raises(httpx.HTTPStatusError) as failed:
                await second.connect()
        finally:
            await second.close()
        return failed.value.response

    async with VoiceProbe(live_server.base_url) as probe:
        await probe.wait_for(lambda: probe.events("session"), 60)
        monkeypatch.setattr(manager, "_max_sessions", 1)  # the live session fills the server
        busy = await refused()
        assert busy.status_code == 503 and "busy" in busy.json()["error"]
        monkeypatch.setattr(manager, "_max_sessions", 8)
        monkeypatch.setattr(manager, "_max_per_ip", 1)  # one per address, and this one is live
        crowded = await refused()
        assert crowded.status_code == 503 and "this address" in crowded.json()["error"]
        assert len(manager.sessions()) == 1


async def test_offer_needs_a_valid_token(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.base_url, trust_env=False) as http:
        bad = await http.post(
            "/api/v1/webrtc/offer", json={"sdp": "v=0 fake sdp", "type": "offer", "token": "x"}
        )
        assert bad.status_code == 401 and "not valid" in bad.json()["error"]
        missing = await http.post("/api/v1/webrtc/offer", json={"sdp": "v=0 fake sdp", "type": "offer"})
        assert missing.status_code == 422
        huge = await http.post(
            "/api/v1/webrtc/offer", json={"sdp": "v" * 20_000, "type": "offer", "token": "x"}
        )
        assert huge.status_code in (413, 422)
