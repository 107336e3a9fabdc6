"""One live voice session: a pipecat pipeline from a transport back to itself.

    transport in → VAD → barge-in → STT → client messages → conversation → TTS → avatar
        → (WebRTC: the track's queued audio) → transport out

The stages talk to each other only through frames (``server.voice.frames``). With an
operator bus, the conversation's gate is a ``TakeoverGate`` and a ``TakeoverControl``
applies the hub's commands to the conversation and the gate.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.transports.base_transport import BaseTransport
from pipecat.workers.runner import WorkerRunner

from avatar.factory import create_renderer
from server.limits.buckets import SessionBuckets
from server.operator.bus import OperatorBus
from server.operator.report import SessionReport
from server.operator.states import ModeMachine, SessionMode
from server.tasks import cancel_and_wait
from server.voice.avatar_stage import AvatarStage
from server.voice.barge_in import BargeIn
from server.voice.client_messages import ClientMessageStage
from server.voice.conversation import ConversationStage
from server.voice.events import SessionEvent
from server.voice.feedback import SessionFeedback
from server.voice.gate import OpenGate, TakeoverGate, TurnGate
from server.voice.marks import Marks
from server.voice.resume import NEW_SESSION, SessionHistory
from server.voice.services import VoiceServices
from server.voice.speech.approved import ApprovedSpeech
from server.voice.stt import LocalWhisperSTT
from server.voice.takeover import TakeoverControl
from server.voice.transport.rtc_output import queued_audio_control
from server.voice.tts import AlignedPiperTTS
from server.voice.turn_vad import ObservedSileroVAD, TurnVAD

log = logging.getLogger(__name__)


@dataclass
class VoiceSession:
    """The parts of one session that others (operator console, tests, benchmarks) reach."""

    session_id: str
    channel: str
    worker: PipelineWorker
    conversation: ConversationStage
    avatar: AvatarStage
    barge_in: BargeIn
    stt: LocalWhisperSTT
    tts: AlignedPiperTTS
    marks: Marks
    control: TakeoverControl | None = None
    history: SessionHistory = NEW_SESSION
    max_session_s: float | None = None  # the call ends politely after this long (voice.max_session_s)
    extra: dict[str, Any] = field(default_factory=dict)

    async def cancel(self) -> None:
        await self.worker.cancel()


def build_session(
    services: VoiceServices,
    transport: BaseTransport,
    session_id: str,
    channel: str,
    bus: OperatorBus | None = None,
    *,
    history: SessionHistory = NEW_SESSION,
) -> VoiceSession:
    """The pipeline of one session; on an operator ``bus``, operators can watch and take it over.

    A session picked up again (``history``, ``server.voice.resume``) starts in the mode it was in.
    """
    settings = services.settings
    marks = Marks()
    avatar = AvatarStage(create_renderer(settings.avatar), marks, video=settings.voice.video)
    tts = AlignedPiperTTS(services.voice, cacheable=ApprovedSpeech(services.brain))
    stt = LocalWhisperSTT(
        services.whisper,
        hotwords=services.hotwords,
        preroll_secs=settings.voice.asr_preroll_secs,
        trailing_silence_secs=settings.voice.asr_trailing_silence_secs,
        load=services.whisper_load,
    )
    barge_in = BargeIn(marks)
    voice = settings.voice
    vad = TurnVAD(
        ObservedSileroVAD(params=VADParams(stop_secs=voice.vad_stop_secs, start_secs=voice.vad_start_secs)),
        pause_s=min(voice.asr_early_secs, voice.vad_stop_secs),
    )
    messages = ClientMessageStage(
        SessionFeedback(services.store.engine, session_id), SessionBuckets(settings.limits.client_messages)
    )
    queued_audio = queued_audio_control(transport)
    gate: TurnGate = OpenGate()
    if bus is not None:
        mode = history.mode
        report = SessionReport.open(bus, session_id, channel, mode=mode, claimed_by=history.claimed_by)
        gate = TakeoverGate(report, ModeMachine(session_id, services.store, mode=mode))
    conversation = ConversationStage(
        session_id=session_id,
        brain=services.brain,
        store=services.store,
        channel=channel,
        marks=marks,
        gate=gate,
        tickets=services.tickets,
    )
    pipeline = Pipeline(
        [
            transport.input(),
            vad,
            barge_in,
            stt,
            messages,
            conversation,
            tts,
            avatar,
            *([queued_audio] if queued_audio is not None else []),
            transport.output(),
        ]
    )
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(
            audio_in_sample_rate=16_000, audio_out_sample_rate=settings.voice.audio_out_sample_rate
        ),
        enable_rtvi=False,
        idle_timeout_secs=settings.voice.idle_timeout_secs,
        check_dangling_tasks=False,
    )
    session = VoiceSession(
        session_id,
        channel,
        worker,
        conversation,
        avatar,
        barge_in,
        stt,
        tts,
        marks,
        history=history,
        max_session_s=settings.voice.max_session_s,
    )
    if isinstance(gate, TakeoverGate):
        session.control = TakeoverControl(
            conversation,
            gate,
            services.brain,
            disclose_human=settings.operator.disclose_human,
            end_session=worker.stop_when_done,  # queued behind the closing notice
        )

    @transport.event_handler("on_client_disconnected")
    async def _left(_transport: Any, _client: Any) -> None:
        log.info("customer left", extra={"session_id": session_id})
        await worker.cancel()

    return session


async def run_session(session: VoiceSession) -> None:
    """Run until the customer leaves, the session idles out, or it is cancelled."""
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(session.worker)
    control = session.control

    @session.worker.event_handler("on_pipeline_started")
    async def _started(_worker: Any, _frame: Any) -> None:
        mode = control.mode if control is not None else SessionMode.BOT
        await session.conversation.send_event(SessionEvent(session_id=session.session_id, state=mode.value))
        if session.history.turns:  # picked up again: the page shows the conversation so far
            await session.conversation.send_event(session.history.event())

    await session.conversation.open()
    if control is not None:
        control.start()
    limit = None
    if session.max_session_s is not None:
        limit = asyncio.create_task(_end_at_time_limit(session, session.max_session_s), name="session-limit")
    try:
        await runner.run()
    finally:
        if limit is not None:
            await cancel_and_wait(limit)
        if control is not None:
            await control.close()


TIME_LIMIT_NOTICE = "This call has reached its time limit. Thank you; you can type below or call again."


async def _end_at_time_limit(session: VoiceSession, after_s: float) -> None:
    """After ``after_s``, tell the page the call is over, then end it behind that notice."""
    await asyncio.sleep(after_s)
    log.info("session reached its time limit", extra={"session_id": session.session_id})
    event = SessionEvent(session_id=session.session_id, state="closed", notice=TIME_LIMIT_NOTICE)
    await session.conversation.send_event(event)
    await session.worker.stop_when_done()
