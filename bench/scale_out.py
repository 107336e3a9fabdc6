"""Scale-out on one machine (issue #16): the real topology on loopback, measured end to end.

``server.devcluster.LocalCluster`` starts Redis, PostgreSQL, a Chroma server, coturn, nginx (TLS,
self-signed) and ``teller serve --workers N``; every customer goes through nginx and dispatch,
so sessions spread over the workers. First a one-worker cluster (only its voice ramp), then the
main run on two workers in the same cluster directory (knowledge and databases already built),
the kills last. Keys of the JSON object (the last stdout line):

    workers                    N of the main run (2)
    memory_per_worker_mb       RSS (/proc/<pid>/status, pid from the Redis registry) of each
                               worker: idle, and after it has served a voice session
    sessions_by_workers        {"1": s1, "2": s2}: the most concurrent voice sessions (aiortc
                               customers of bench/voice_client.py, each asking 3 questions; 1, 2,
                               3, ... at once, two workers from s1 on) whose voice-to-voice
                               (end of speech → first reply audio) p95 ≤ 1400 ms
    v2v_p95_ms_by_sessions     that p95 per session count, per worker count
    cross_worker_cut_ms_p95    a console on worker A takes over a websocket customer's session on
                               worker B while the bot speaks: take_over sent → last bot audio
                               frame the customer receives (bench/takeover.py's cycle)
    cross_worker_operator_first_audio_ms_p95   the operator on A says a line → its first audio
                               frame at the customer on B (customers alternate between workers)
    ask_p95_ms_postgres        POST /api/v1/ask on worker 00's own port (PostgreSQL store),
                               held-back BANKING77 questions, each a new session
    publish_visible_all_workers_ms   the admin publish path (server/admin/publish.py) run in this
                               process with the cluster's environment: from making the new
                               version live in the catalog → every worker's /healthz names it
    lost_acked_lines           over worker_kills kill -9s of a worker (pid from the registry, the
                               one running longest, at a random moment while websocket customers
                               type): lines acknowledged (their transcript event came back) that
                               are missing from the PostgreSQL transcript; checked after each
                               restart (the supervisor restarts the worker)
    relay_turn_ok              a customer in a network namespace that may reach only nginx and
                               coturn (iptables in its namespace: every host address is also a
                               worker's ICE candidate) speaks a question through the cluster and
                               hears the answer over a relayed candidate pair
    duration_s, phase_s        how long the run (and each part) took; load_1m at the end

Never run it beside other work: the figures are only meaningful on an idle machine.
Run: .venv/bin/python bench/scale_out.py            (--quick: a smoke run that only proves
     every key is computed: 1 session level, 2 takeovers, 2 kills, a few asks)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import numpy as np
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness.chromium import question_wav
from bench.harness.operator_probe import ConsoleProbe, CustomerProbe, staff_login
from bench.takeover import _cycle
from bench.voice_latency import QUESTIONS, _p, _speech
from knowledge.catalog import Live
from knowledge.demo.banking77 import read_banking77, split
from knowledge.loader import load_knowledge_base
from knowledge.retrieval import Retriever
from knowledge.versions import ReleaseLog
from server.admin.publish import Publisher
from server.auth.users import Role, UserDirectory, UserError
from server.cluster.registry import SessionRegistry, WorkerRecord
from server.cluster.supervisor import STABLE_AFTER_S
from server.config import Settings, load_settings
from server.devcluster.netns import Link, allow_only, customer_link, firewall_unavailable
from server.devcluster.topology import ClusterPorts, LocalCluster
from server.runtime import open_runtime
from server.speech_models import resolve_piper_voice
from server.store.store import Store
from server.voice.speech.piper import load_piper_voice

REPO = Path(__file__).resolve().parents[1]
VOICE_CLIENT = REPO / "bench" / "voice_client.py"
WORKERS = 2
V2V_LIMIT_MS = 1400.0
TARGETS: dict[str, str] = {
    "cross_worker_cut_ms_p95": "<= 250",
    "cross_worker_operator_first_audio_ms_p95": "<= 600",
    "ask_p95_ms_postgres": "<= 40",
    "publish_visible_all_workers_ms": "<= 1000",
    "lost_acked_lines": "== 0",
    "relay_turn_ok": "true",
}
CLUSTER_ENV = {
    "TELLER_VOICE__MAX_SESSIONS": "64",  # the benchmark, not the cap, finds the limit
    "TELLER_VOICE__MAX_SESSIONS_PER_IP": "128",  # every bench customer comes from 127.0.0.1
    # ... and so does every /ask and every grant: the abuse limits would measure themselves
    "TELLER_LIMITS__ASK_PER_IP": '{"rate": 10000, "burst": 10000}',
    "TELLER_LIMITS__ASK_PER_SESSION": '{"rate": 10000, "burst": 10000}',
    "TELLER_LIMITS__SESSION_PER_IP": '{"rate": 10000, "burst": 10000}',
    "TELLER_LIMITS__SIGNALLING_PER_IP": '{"rate": 10000, "burst": 10000}',
}
OPERATOR, OPERATOR_PASSWORD = "bench-operator", "bench-operator-password"
RELAY_QUESTION = "My card still has not arrived. What should I do?"
TYPED = [
    "How do I freeze my card?",
    "How long does a transfer to another bank take?",
    "Can I get a virtual card?",
    "How do I change my PIN?",
]
ACK_S = 60.0  # a typed line's transcript event; a busy machine only, never on an idle one
WAIT_S = 300.0  # a worker's restart, sessions ending: only ends a hang


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Plan:
    max_sessions: int  # the voice ramp's last session count
    ramp_questions: int  # questions each voice session asks
    takeovers: int
    per_session: int  # takeovers per customer session
    asks: int
    kills: int
    typists: int  # websocket customers typing during the kills

    @classmethod
    def of(cls, args: argparse.Namespace) -> Plan:
        if args.quick:
            return cls(1, 1, 2, 1, 10, 2, 2)
        return cls(args.max_sessions, 3, args.takeovers, 5, args.asks, args.kills, args.typists)


@dataclass
class Phases:
    """How long each part of the run took."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        say(f"== {name}")
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = round(time.monotonic() - started, 1)
            say(f"== {name}: {self.seconds[name]:.0f} s")


@dataclass(frozen=True)
class Run:
    """What every part of the run shares."""

    plan: Plan
    phases: Phases
    files: list[Path]  # the voice questions (PCM16 48 kHz .npy)
    workdir: Path


# ---------------------------------------------------------------------- the cluster


def cluster_settings(cluster: LocalCluster) -> Settings:
    """The settings every worker of ``cluster`` runs with (its environment, read here)."""
    with mock.patch.dict(os.environ, cluster.env(), clear=True):
        return load_settings()


def add_operator(settings: Settings) -> None:
    store = Store.from_url(settings.store.url)
    try:
        UserDirectory(store.engine).add(OPERATOR, Role.OPERATOR, OPERATOR_PASSWORD)
    except UserError:
        pass  # this cluster directory has it from an earlier run
    finally:
        store.close()


async def live_workers(registry: SessionRegistry, count: int) -> list[WorkerRecord]:
    """The registry's records once all ``count`` workers are in it."""
    deadline = time.monotonic() + WAIT_S
    while len(records := await registry.workers()) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(records)} of {count} workers in the registry")
        await asyncio.sleep(0.2)
    return records


async def quiet(registry: SessionRegistry) -> None:
    """Wait until no worker holds a session (a round never shares the CPU with the last)."""
    deadline = time.monotonic() + 60
    while any(r.active for r in await registry.workers()):
        if time.monotonic() > deadline:
            say("  sessions still live after 60 s; going on")
            return
        await asyncio.sleep(0.5)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def uptime_s(pid: int) -> float:
    """How long process ``pid`` has run (its start time in /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    started_ticks = int(stat.rsplit(")", 1)[1].split()[19])
    boot_uptime = float(Path("/proc/uptime").read_text().split()[0])
    return boot_uptime - started_ticks / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------- voice sessions


async def voice_round(url: str, sessions: int, files: list[Path]) -> tuple[list[float], Counter[str]]:
    """bench/voice_client.py with ``sessions`` concurrent customers: v2v (ms) of every turn, and
    how many sessions each worker got."""
    argv = [str(VOICE_CLIENT), url, "turns", *map(str, files), "--sessions", str(sessions), "--insecure"]
    proc = await asyncio.create_subprocess_exec(sys.executable, *argv, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    v2v: list[float] = []
    workers: Counter[str] = Counter()
    done = False
    try:
        async with asyncio.timeout(240 + 60 * sessions * len(files)):
            async for raw in proc.stdout:
                line = json.loads(raw)
                if line["event"] == "session":
                    workers[str(line.get("worker"))] += 1
                elif line["event"] == "turn":
                    v2v.append((line["onset"] - line["end"]) * 1000)
                elif line["event"] == "error":
                    raise RuntimeError(f"client: {line['error']}")
                elif line["event"] == "done":
                    done = True
                    break
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    if not done:
        raise RuntimeError("the voice client ended without finishing")
    return v2v, workers


async def warm_up(registry: SessionRegistry, url: str, files: list[Path], workers: int) -> None:
    """Voice sessions until every worker has served one (each loads its speech models)."""
    served: Counter[str] = Counter()
    for _ in range(3):
        await quiet(registry)
        _, hit = await voice_round(url, workers, files[:1])
        served.update(hit)
        if len(served) >= workers:
            break
    say(f"  warm-up sessions per worker: {dict(served)}")


async def level(registry: SessionRegistry, url: str, files: list[Path], sessions: int) -> float | None:
    """The v2v p95 (ms) of ``sessions`` concurrent sessions; None when the round failed."""
    await quiet(registry)
    try:
        v2v, workers = await voice_round(url, sessions, files)
    except (TimeoutError, RuntimeError) as exc:
        say(f"  {sessions} sessions: failed: {exc}")
        return None
    p95 = _p(v2v, 0.95)
    say(f"  {sessions} sessions: v2v p95 {p95:.0f} ms over {len(v2v)} turns, per worker {dict(workers)}")
    return p95


async def ramp(
    registry: SessionRegistry, url: str, files: list[Path], plan: Plan, start: int = 1
) -> tuple[int, dict[str, Any]]:
    """``start``, ``start`` + 1, ... concurrent sessions until the v2v p95 passes the limit (or a
    round fails): the last count within it. Below ``start`` only when ``start`` itself misses."""
    by_sessions: dict[str, Any] = {}

    async def within(n: int) -> bool:
        p95 = by_sessions[str(n)] = await level(registry, url, files[: plan.ramp_questions], n)
        return p95 is not None and p95 <= V2V_LIMIT_MS

    if not await within(start):
        for n in range(start - 1, 0, -1):
            if await within(n):
                return n, by_sessions
        return 0, by_sessions
    best = start
    for n in range(start + 1, plan.max_sessions + 1):
        if not await within(n):
            break
        best = n
    return best, by_sessions


# ---------------------------------------------------------------------- takeover across workers


@contextlib.asynccontextmanager
async def consoles(cluster: LocalCluster, workers: list[str]) -> AsyncIterator[dict[str, ConsoleProbe]]:
    """An operator console on each worker, through nginx's /w/<worker>/ route."""
    cookies = await staff_login(cluster.url, OPERATOR, OPERATOR_PASSWORD, verify=False)
    async with contextlib.AsyncExitStack() as stack:
        opened = {}
        for worker in workers:
            console = ConsoleProbe(f"{cluster.url}/w/{worker}", cookies, origin=cluster.url, verify=False)
            opened[worker] = await stack.enter_async_context(console)
        yield opened


async def alternating_customers(url: str) -> AsyncGenerator[CustomerProbe, None]:
    """Websocket customers one after another, each connected before the last one leaves: dispatch
    (least loaded first) then puts them on the workers in turn."""
    async with contextlib.AsyncExitStack() as last:
        while True:
            stack = contextlib.AsyncExitStack()
            try:
                customer = await stack.enter_async_context(CustomerProbe(url, verify=False))
            except BaseException:
                await stack.aclose()
                raise
            await last.aclose()
            last.push_async_callback(stack.aclose)
            yield customer


async def takeovers(cluster: LocalCluster, workers: list[str], plan: Plan) -> dict[str, Any]:
    cuts: list[float] = []
    firsts: list[float] = []
    pairs: Counter[str] = Counter()
    async with consoles(cluster, workers) as by_worker:
        customers = alternating_customers(cluster.url)
        try:
            while len(cuts) < plan.takeovers:
                customer = await anext(customers)
                home = customer.worker
                operator = next(w for w in workers if w != home)  # the console on another worker
                for _ in range(min(plan.per_session, plan.takeovers - len(cuts))):
                    cut, first, _ack = await _cycle(customer, by_worker[operator], len(cuts))
                    cuts.append(cut)
                    firsts.append(first)
                    pair = f"{operator} -> {home}"
                    pairs[pair] += 1
                    say(f"  takeover {len(cuts)} ({pair}): cut {cut:.0f} ms, operator audio {first:.0f} ms")
        finally:
            await customers.aclose()
    return {
        "cross_worker_takeovers": len(cuts),
        "cross_worker_cut_ms_p50": _p(cuts, 0.5),
        "cross_worker_cut_ms_p95": _p(cuts, 0.95),
        "cross_worker_operator_first_audio_ms_p50": _p(firsts, 0.5),
        "cross_worker_operator_first_audio_ms_p95": _p(firsts, 0.95),
        "cross_worker_pairs": dict(pairs),
    }


# ---------------------------------------------------------------------- ask, publish


def asks(base_url: str, count: int) -> dict[str, Any]:
    """POST /api/v1/ask on one worker: 20 untimed, then ``count`` timed (each a new session)."""
    _, held = split(read_banking77())
    texts = [row.text for row in random.Random(1).sample(held, count + 20)]
    timings: list[float] = []
    with httpx.Client(base_url=base_url, trust_env=False, timeout=60) as http:
        for n, text in enumerate(texts):
            started = time.perf_counter()
            http.post("/api/v1/ask", json={"text": text}).raise_for_status()
            if n >= 20:
                timings.append((time.perf_counter() - started) * 1000)
    return {
        "asks": len(timings),
        "ask_p50_ms_postgres": _p(timings, 0.5),
        "ask_p95_ms_postgres": _p(timings, 0.95),
    }


class TimedPublisher(Publisher):
    """The admin's publisher, noting when it starts making the new version live."""

    activated_at = 0.0

    def _activate(self, retriever: Retriever, base: Live | None, what: str) -> None:
        self.activated_at = time.monotonic()
        super()._activate(retriever, base, what)


def healthz_versions(urls: list[str]) -> list[object]:
    with httpx.Client(trust_env=False, timeout=5) as http:
        return [http.get(f"{url}/healthz").json().get("knowledge_version") for url in urls]


def publish(settings: Settings, worker_urls: list[str]) -> dict[str, Any]:
    """Publish the knowledge base again as a new version, as the admin does; time until every
    worker serves it."""
    runtime = open_runtime(settings)
    try:
        publisher = TimedPublisher(runtime, ReleaseLog(runtime.index, settings.knowledge.index_dir))
        kb = load_knowledge_base(settings.knowledge.source_dir)
        started = time.monotonic()
        version = publisher.publish(kb, [], "bench-admin", "bench-reviewer", "bench/scale_out.py").version
        published_s = time.monotonic() - started
        deadline = time.monotonic() + 60
        while any(v != version for v in healthz_versions(worker_urls)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers still serve {healthz_versions(worker_urls)}, not {version}")
            time.sleep(0.01)  # polling the workers, not waiting on a result
        visible_ms = (time.monotonic() - publisher.activated_at) * 1000
    finally:
        runtime.close()
    return {
        "published_version": version,
        "publish_s": round(published_s, 1),
        "publish_visible_all_workers_ms": round(visible_ms, 1),
    }


# ---------------------------------------------------------------------- kill -9 under typing


@dataclass
class Typed:
    """One websocket session's acknowledged lines (the text of their transcript events)."""

    session_id: str
    worker: str | None
    acked: list[str] = field(default_factory=list)
    ended: bool = False


@dataclass
class KillLedger:
    sessions: list[Typed] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)
    lost: list[str] = field(default_factory=list)
    restarts_s: list[float] = field(default_factory=list)
    cut_sessions: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # a session began or ended


def is_ack(event: dict[str, Any]) -> bool:
    return event["type"] in ("transcript", "_closed")


def is_reply(event: dict[str, Any]) -> bool:
    return event["type"] in ("bot_text", "error", "_closed")


async def type_lines(customer: CustomerProbe, typed: Typed, k: int, lines: int, stop: asyncio.Event) -> None:
    """Type ``lines`` lines, each after the last one's reply; stop early when the socket ends."""
    for _ in range(lines):
        if stop.is_set() or customer.closed:
            return
        n = len(typed.acked)
        since = time.monotonic()
        await customer.say(f"{TYPED[(k + n) % len(TYPED)]} This is customer {k}, line {n}.")
        ack = await customer.heard.event(is_ack, ACK_S, since)
        if ack["type"] == "_closed":
            return
        typed.acked.append(str(ack["text"]))
        await customer.heard.event(is_reply, ACK_S, since)


async def typist(url: str, k: int, ledger: KillLedger, stop: asyncio.Event) -> None:
    """A customer typing in short sessions (so dispatch spreads them) until ``stop``."""
    rng = random.Random(k)
    while not stop.is_set():
        try:
            async with CustomerProbe(url, verify=False) as customer:
                typed = Typed(customer.session_id, customer.worker)
                ledger.sessions.append(typed)
                ledger.changed.set()
                try:
                    await type_lines(customer, typed, k, rng.randint(2, 5), stop)
                finally:
                    typed.ended = True
                    ledger.changed.set()
        except (OSError, TimeoutError, httpx.HTTPError, websockets.exceptions.WebSocketException):
            await asyncio.sleep(0.5)  # its worker died, or dispatch's worker is restarting


def missing_lines(store: Store, typed: Typed) -> list[str]:
    stored = [row.text for row in store.transcript(typed.session_id) if row.speaker == "customer"]
    return [line for line in typed.acked if not any(line in text for text in stored)]


async def check_ended(store: Store, ledger: KillLedger, *, all_sessions: bool = False) -> int:
    """Compare the ended sessions' acknowledged lines with the store; the lines checked."""
    lines = 0
    for typed in list(ledger.sessions):
        if typed.session_id in ledger.checked or not (typed.ended or all_sessions):
            continue
        ledger.checked.add(typed.session_id)
        lines += len(typed.acked)
        for line in await asyncio.to_thread(missing_lines, store, typed):
            ledger.lost.append(f"{typed.session_id}: {line}")
            say(f"  LOST an acknowledged line of {typed.session_id} ({typed.worker}): {line!r}")
    return lines


async def oldest_worker(registry: SessionRegistry, count: int) -> WorkerRecord:
    """The worker running longest, once it has run ``STABLE_AFTER_S`` (so the supervisor restarts
    it after its first, shortest backoff)."""
    while True:
        records = await live_workers(registry, count)
        victim = max(records, key=lambda r: uptime_s(r.pid))
        if uptime_s(victim.pid) >= STABLE_AFTER_S:
            return victim
        await asyncio.sleep(0.5)


def typing_on(ledger: KillLedger, worker: str) -> int:
    """How many typists' sessions are live on ``worker``."""
    return sum(1 for t in ledger.sessions if t.worker == worker and not t.ended)


async def until_typing(ledger: KillLedger, worker: str, within_s: float = 30.0) -> None:
    """Wait until a typist's session is live on ``worker`` (or ``within_s`` has passed)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within_s):
            while not typing_on(ledger, worker):
                ledger.changed.clear()
                await ledger.changed.wait()


async def restarted(registry: SessionRegistry, cluster: LocalCluster, old: WorkerRecord) -> float:
    """Seconds until the supervisor's new process for ``old.worker`` is in the registry and healthy."""
    killed = time.monotonic()
    index = int(old.worker.rsplit("-", 1)[1])
    async with httpx.AsyncClient(trust_env=False, timeout=2) as http:
        while time.monotonic() - killed < WAIT_S:
            records = {r.worker: r for r in await registry.workers()}
            new = records.get(old.worker)
            if new is not None and new.pid != old.pid:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{cluster.worker_url(index)}/healthz")).status_code == 200:
                        return time.monotonic() - killed
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{old.worker} was not restarted in {WAIT_S:.0f} s")


async def kill_one(
    registry: SessionRegistry, cluster: LocalCluster, ledger: KillLedger, rng: random.Random
) -> None:
    victim = await oldest_worker(registry, cluster.workers)
    await until_typing(ledger, victim.worker)
    await asyncio.sleep(rng.uniform(0.0, 2.0))  # a random moment of the typing
    typing = Counter(t.worker for t in ledger.sessions if not t.ended)
    os.kill(victim.pid, signal.SIGKILL)
    ledger.cut_sessions += typing[victim.worker]
    say(f"  killed {victim.worker} (pid {victim.pid}); typing sessions per worker: {dict(typing)}")
    ledger.restarts_s.append(await restarted(registry, cluster, victim))


async def kills(
    registry: SessionRegistry, cluster: LocalCluster, settings: Settings, plan: Plan
) -> dict[str, Any]:
    await quiet(registry)  # no session left from before: dispatch spreads the typists evenly
    ledger = KillLedger()
    stop = asyncio.Event()
    rng = random.Random(16)
    store = Store.from_url(settings.store.url)
    tasks = [asyncio.create_task(typist(cluster.url, k, ledger, stop)) for k in range(plan.typists)]
    checked = 0
    try:
        for n in range(plan.kills):
            await kill_one(registry, cluster, ledger, rng)
            checked += await check_ended(store, ledger)
            say(
                f"  kill {n + 1}: restarted in {ledger.restarts_s[-1]:.1f} s; {checked} acknowledged lines "
                f"checked, {len(ledger.lost)} lost"
            )
    finally:
        stop.set()
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                say(f"  a typist stopped early: {task.exception()!r}")  # fewer customers typed
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        checked += await check_ended(store, ledger, all_sessions=True)
        store.close()
    return {
        "worker_kills": len(ledger.restarts_s),
        "lost_acked_lines": len(ledger.lost),
        "acked_lines_checked": checked,
        "sessions_cut_by_kills": ledger.cut_sessions,
        "restart_s_p50": round(statistics.median(ledger.restarts_s), 1) if ledger.restarts_s else None,
        "restart_s_max": round(max(ledger.restarts_s), 1) if ledger.restarts_s else None,
    }


# ---------------------------------------------------------------------- the relay


def relay_turn(cluster: LocalCluster, link: Link, workdir: Path) -> dict[str, Any]:
    """A customer who can reach only nginx and coturn says a question and must hear the answer relayed."""
    wav = question_wav(workdir / "relay_question.wav", RELAY_QUESTION, tail_s=0)
    url = f"https://{link.host_ip}:{cluster.ports.https}"
    argv = link.exec_in(sys.executable, "-m", "bench.harness.relay_customer", url, str(wav), "--insecure")
    log = workdir / "relay_customer.log"
    with log.open("wb") as err:
        done = subprocess.run(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=err, timeout=600, check=False)
    if done.returncode != 0:
        return {"ok": False, "error": log.read_text(errors="replace")[-1500:]}
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    local = (result.get("candidates") or [None])[0]
    result["ok"] = (
        "arrived" in str(result.get("transcript")).lower()
        and result.get("decision") == "answer"
        and result.get("reply_loud_frames", 0) >= 50
        and local == "relay"
    )
    return result


# ---------------------------------------------------------------------- the runs


def utterances(workdir: Path) -> list[Path]:
    voice = load_piper_voice(resolve_piper_voice(load_settings().voice.piper_voice))
    files = []
    for i, text in enumerate(QUESTIONS[:3]):
        files.append(workdir / f"utterance_{i}.npy")
        np.save(files[-1], _speech(voice, text))
    return files


async def memory(registry: SessionRegistry, count: int) -> dict[str, float]:
    return {r.worker: rss_mb(r.pid) for r in await live_workers(registry, count)}


async def measure_voice(
    registry: SessionRegistry, cluster: LocalCluster, run: Run, start: int = 1
) -> dict[str, Any]:
    """Memory idle and after a voice session; the voice ramp from ``start`` sessions."""
    workers = sorted(r.worker for r in await live_workers(registry, cluster.workers))
    idle = await memory(registry, cluster.workers)
    with run.phases.timed(f"voice warm-up, {cluster.workers} worker(s)"):
        await warm_up(registry, cluster.url, run.files, cluster.workers)
    after = await memory(registry, cluster.workers)
    with run.phases.timed(f"voice ramp, {cluster.workers} worker(s)"):
        sessions, by_sessions = await ramp(registry, cluster.url, run.files, run.plan, start)
    await quiet(registry)
    return {
        "workers": cluster.workers,
        "memory_per_worker_mb": {w: {"idle": idle.get(w), "after_voice": after.get(w)} for w in workers},
        "sessions": sessions,
        "v2v_p95_ms_by_sessions": by_sessions,
    }


async def main_run(cluster: LocalCluster, run: Run, link: Link | None, start: int) -> dict[str, Any]:
    """Everything measured on the cluster of ``WORKERS`` workers (its ramp from ``start``
    sessions); the kills last."""
    settings = cluster_settings(cluster)
    add_operator(settings)
    registry = SessionRegistry.from_settings(settings)
    phases = run.phases
    try:
        result = await measure_voice(registry, cluster, run, start)
        with phases.timed("cross-worker takeovers"):
            workers = sorted(result["memory_per_worker_mb"])
            result |= await takeovers(cluster, workers, run.plan)
        with phases.timed("ask"):
            result |= await asyncio.to_thread(asks, cluster.worker_url(0), run.plan.asks)
        with phases.timed("publish"):
            urls = [cluster.worker_url(i) for i in range(cluster.workers)]
            result |= await asyncio.to_thread(publish, settings, urls)
        if link is not None:
            with phases.timed("relay"):
                result["relay_turn"] = await asyncio.to_thread(relay_turn, cluster, link, run.workdir)
        with phases.timed("kill -9"):
            result |= await kills(registry, cluster, settings, run.plan)
    finally:
        await registry.aclose()
    return result


async def ramp_run(cluster: LocalCluster, run: Run) -> dict[str, Any]:
    """Only the voice (the one-worker comparison)."""
    registry = SessionRegistry.from_settings(cluster_settings(cluster))
    try:
        return await measure_voice(registry, cluster, run)
    finally:
        await registry.aclose()


@contextlib.contextmanager
def relay_link(ports: ClusterPorts) -> Iterator[Link | None]:
    """The relay customer's namespace, firewalled to nginx and coturn; None where it can't be made."""
    reason = firewall_unavailable()
    if reason is not None:
        say(f"no relay customer: {reason}")
        yield None
        return
    with customer_link() as link:
        allow_only(link, tcp=(ports.https, ports.turn), udp=(ports.turn,))
        yield link


@contextlib.contextmanager
def started(cluster: LocalCluster, phases: Phases) -> Iterator[LocalCluster]:
    """``cluster`` running for the block, its start and stop timed."""
    try:
        with phases.timed(f"start {cluster.workers} worker(s)"):
            cluster.start()
        yield cluster
    finally:
        with phases.timed(f"stop {cluster.workers} worker(s)"):
            cluster.stop()


def run_main_cluster(run: Run, start: int) -> dict[str, Any]:
    ports = ClusterPorts.free(WORKERS)
    with relay_link(ports) as link:
        cluster = LocalCluster(
            run.workdir / "cluster",
            workers=WORKERS,
            ports=ports,
            extra_env=dict(CLUSTER_ENV),
            durable=False,
            public_ip=link.host_ip if link is not None else None,
        )
        with started(cluster, run.phases):
            result = asyncio.run(main_run(cluster, run, link, start))
    if link is None:
        result["relay_turn"] = {"ok": None, "skipped": firewall_unavailable()}
    return result


def run_one_worker(run: Run) -> dict[str, Any]:
    """The one-worker comparison: only its voice ramp (it builds the knowledge and databases in
    the cluster directory, which the main run then finds there)."""
    cluster = LocalCluster(
        run.workdir / "cluster",
        workers=1,
        ports=ClusterPorts.free(1),
        extra_env=dict(CLUSTER_ENV),
        durable=False,
    )
    with started(cluster, run.phases):
        return asyncio.run(ramp_run(cluster, run))


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The issue's keys first, then the details."""
    main, one = result["main"], result["one"]
    out: dict[str, Any] = {
        "workers": main["workers"],
        "memory_per_worker_mb": main["memory_per_worker_mb"],
        "sessions_by_workers": {"1": one["sessions"], str(main["workers"]): main["sessions"]},
        "v2v_p95_ms_by_sessions": {
            "1": one["v2v_p95_ms_by_sessions"],
            str(main["workers"]): main["v2v_p95_ms_by_sessions"],
        },
        "relay_turn_ok": main["relay_turn"].get("ok"),
    }
    skip = {"workers", "memory_per_worker_mb", "sessions", "v2v_p95_ms_by_sessions"}
    out |= {k: v for k, v in main.items() if k not in skip}
    return out


def report(out: dict[str, Any]) -> None:
    say("\nscale-out figures (target):")
    say(f"  sessions_by_workers: {out['sessions_by_workers']} (v2v p95 <= {V2V_LIMIT_MS:.0f} ms)")
    say(f"  memory_per_worker_mb: {out['memory_per_worker_mb']}")
    for key, target in TARGETS.items():
        say(f"  {key}: {out.get(key)} ({target})")
    say(f"  worker_kills: {out.get('worker_kills')} (>= 20); duration_s: {out['duration_s']} (< ~1500)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a smoke run: proves every key is computed")
    parser.add_argument("--max-sessions", type=int, default=12, help="the voice ramp's last session count")
    parser.add_argument("--takeovers", type=int, default=20)
    parser.add_argument("--asks", type=int, default=400)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--typists", type=int, default=4, help="customers typing during the kills")
    args = parser.parse_args()
    plan = Plan.of(args)
    os.chdir(REPO)  # the workers find var/models and configs/ from here
    started = time.monotonic()
    phases = Phases()
    with tempfile.TemporaryDirectory(prefix="teller-scale-out-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)  # PostgreSQL runs as its own user (as root: postgres) below it
        run = Run(plan, phases, utterances(workdir), workdir)
        one = run_one_worker(run)
        # Two workers serve at least what one does: their ramp starts there (and steps down if not)
        result = {"one": one, "main": run_main_cluster(run, start=max(1, one["sessions"]))}
    out = summary(result)
    out |= {
        "quick": args.quick,
        "duration_s": round(time.monotonic() - started, 1),
        "phase_s": phases.seconds,
        "load_1m": round(os.getloadavg()[0], 2),
    }
    report(out)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
