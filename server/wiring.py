"""The running parts of one app, built in its lifespan and handed to routes as one typed object.

``open_services`` builds them in dependency order and ``AppServices.aclose`` closes them in
reverse; routes reach them through ``server.app_state.app_services(request)``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from server.admin.follow import VersionFollower
from server.auth.revocations import listener_task
from server.auth.service import StaffAuth
from server.cluster.identity import WorkerIdentity
from server.operator.bus_factory import open_operator_bus
from server.operator.hub import OperatorHub, problem_lookup
from server.operator.speech import OperatorTranscriber
from server.runtime import Runtime
from server.store.feedback import FeedbackStore
from server.tasks import cancel_and_wait
from server.tickets.model import Ticket
from server.tickets.service import TicketService, open_ticket_service
from server.voice.manager import SessionManager
from server.voice.operator_asr import SharedWhisperTranscriber
from server.voice.services import VoiceServices, load_voice_services
from server.voice.speech.warm import PublishWarmer
from server.voice.transport.runtime import VoiceRuntime, make_voice_runtime

if TYPE_CHECKING:
    from server.cluster.member import ClusterMember


@dataclass
class AppServices:
    runtime: Runtime
    staff: StaffAuth
    feedback: FeedbackStore
    tickets: TicketService
    operators: OperatorHub
    operator_speech: OperatorTranscriber
    voice: VoiceRuntime
    background: list[asyncio.Task[None]]  # knowledge follower, speech-cache warmer, session notices
    cluster: ClusterMember | None = None  # this worker in the session registry; None: one process

    async def aclose(self) -> None:
        """Leave the registry, then stop in reverse order of need: background work, sessions, hub,
        then queued tickets."""
        if self.cluster is not None:
            await self.cluster.aclose()
        await cancel_and_wait(*self.background)
        await self.voice.close()
        await self.operators.aclose()
        await asyncio.to_thread(self.tickets.close)  # after the sessions' closing tickets


def _operator_hub(rt: Runtime, tickets: TicketService) -> OperatorHub:
    def latest_ticket(session_id: str) -> Ticket | None:
        stored = tickets.latest(session_id)
        return stored.ticket if stored is not None else None

    return OperatorHub(
        rt.store,
        problem_lookup(rt.brain),
        bus=open_operator_bus(rt.settings),  # operator.bus: in_process (default) | redis
        confirm_timeout_s=rt.settings.operator.confirm_timeout_s,
        latest_ticket=latest_ticket,
    )


def _cluster_member(
    rt: Runtime, worker: WorkerIdentity | None, manager: SessionManager
) -> ClusterMember | None:
    if worker is None:
        return None
    from server.cluster.member import ClusterMember  # redis is imported only for a cluster worker
    from server.cluster.registry import SessionRegistry

    settings = rt.settings
    member = ClusterMember(
        worker,
        SessionRegistry.from_settings(settings),
        manager,
        capacity=settings.voice.max_sessions,
        heartbeat_s=settings.cluster.heartbeat_s,
        drain_timeout_s=settings.server.drain_timeout_s,
    )
    member.start()
    return member


def open_services(rt: Runtime, worker: WorkerIdentity | None = None) -> AppServices:
    """Build every part on ``rt``; call it on the running event loop (it starts owned tasks).

    ``worker``: this process is that worker of a cluster (it joins the session registry).
    """
    settings = rt.settings
    tickets = open_ticket_service(rt)

    async def load_voice() -> VoiceServices:
        return await asyncio.to_thread(load_voice_services, settings, rt.brain, rt.store, tickets)

    hub = _operator_hub(rt, tickets)
    hub.start()
    voice = settings.voice
    manager = SessionManager(
        load_voice, max_sessions=voice.max_sessions, max_per_ip=voice.max_sessions_per_ip, bus=hub.bus
    )
    tasks = [
        asyncio.create_task(VersionFollower(rt).run(), name="knowledge-follower"),
        asyncio.create_task(  # speaks newly published answers into the speech cache
            PublishWarmer(rt.brain, lambda: s.voice if (s := manager.loaded_services) else None).run(),
            name="speech-cache-warmer",
        ),
    ]
    staff = StaffAuth.from_settings(settings, rt.store)
    if (notices := listener_task(settings, staff.sessions.notify_user)) is not None:
        tasks.append(notices)  # other workers' logouts and `teller user` changes wake consoles here
    return AppServices(
        runtime=rt,
        staff=staff,
        feedback=FeedbackStore(rt.store.engine),
        tickets=tickets,
        operators=hub,
        operator_speech=OperatorTranscriber(SharedWhisperTranscriber(manager.services)),
        voice=make_voice_runtime(settings, manager),
        background=tasks,
        cluster=_cluster_member(rt, worker, manager),
    )
