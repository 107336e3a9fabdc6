"""Knowledge on a Chroma server shared by workers that share nothing else (issue #16).

Each worker has its own index directory and store: the live version, the
snapshots and the release records come from the server, so a publish or a
rollback on one worker is served by the other's follower, and two publishes at
once leave one winner and one clear, retryable error.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from knowledge.catalog import CatalogConflict, Live
from knowledge.chroma_catalog import ChromaCatalog
from knowledge.embedding_cache import CachingEmbedder
from knowledge.index import IndexNotBuiltError, make_client
from knowledge.versions import ReleaseLog
from server.admin.follow import VersionFollower
from server.admin.publish import PublishConflict, Published, Publisher
from server.runtime import Runtime, open_index
from tests.knowledge_server.chroma_server import ChromaServer
from tests.knowledge_server.conftest import PREFIX, tiny_kb, with_answer, worker_settings
from tests.knowledge_server.racer import BARRIER_TIMEOUT_S, Plan, race

pytestmark = pytest.mark.cluster
T = TypeVar("T")

QUESTION = "I lost my credit card, what do I do?"
PROBLEM = "lost_credit_card"


def served_answer(rt: Runtime) -> str:
    best = rt.brain.retriever.retrieve(QUESTION).best
    assert best is not None and best.ref.problem.id == PROBLEM
    return best.ref.problem.answer


def publisher(rt: Runtime) -> Publisher:
    return Publisher(rt, ReleaseLog(rt.index))


def test_build_activate_and_query_through_the_server(
    chroma_server: ChromaServer, tmp_path: Path, caching_embedder: CachingEmbedder
) -> None:
    kb = tiny_kb()
    one = open_index(worker_settings(tmp_path / "one", chroma_server.url), caching_embedder)
    assert isinstance(one.catalog, ChromaCatalog) and one.live() is None
    version = one.build(kb)
    assert version == 1 and one.active_version() is None  # built, not yet live
    assert one.activate(version) == Live(1, 1)
    other = open_index(worker_settings(tmp_path / "two", chroma_server.url), caching_embedder)
    assert other.active_version() == 1 and other.versions() == [1] and other.snapshot(1) == kb
    hits = other.query(1, other.embedder.embed_one(QUESTION), 3)
    assert hits[0].problem_id == PROBLEM
    with pytest.raises(IndexNotBuiltError):
        other.activate(7)
    assert not (tmp_path / "one" / "index" / "manifest.json").exists()  # nothing is kept locally


def test_a_publish_on_one_worker_is_served_by_the_other_and_rolled_back_from_it(
    workers: tuple[Runtime, Runtime],
) -> None:
    a, b = workers
    old = served_answer(b)
    new = "A lost credit card is frozen in the app at once; order the replacement there too."
    edited = with_answer(tiny_kb(), PROBLEM, new)
    assert publisher(a).publish(edited, [], "eddie", "sue").version == 2
    assert served_answer(a) == new and b.brain.retriever.version == 1

    follow_b = VersionFollower(b)
    assert follow_b.check() == 2 and served_answer(b) == new
    assert follow_b.check() is None
    releases_b = ReleaseLog(b.index)
    assert releases_b.source(2) == edited  # the release record, with its held-back questions
    release = releases_b.release(2)
    assert release is not None and (release.published_by, release.reviewed_by) == ("eddie", "sue")

    publisher(b).rollback(1)
    assert served_answer(b) == old and a.index.active_version() == 1
    assert VersionFollower(a).check() == 1 and served_answer(a) == old
    assert a.index.live() == Live(1, 3)  # build v1, publish v2, roll back to v1: three activations


def test_a_follower_stages_a_built_version_and_swaps_to_it_without_loading_when_it_goes_live(
    workers: tuple[Runtime, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading a version takes seconds; a follower does it while the publisher runs its gate."""
    a, b = workers
    new = "Freeze the lost card in the app; the replacement is ordered there too."
    version = a.index.build(with_answer(tiny_kb(), PROBLEM, new))  # complete, gate still running
    follow_b = VersionFollower(b)
    assert follow_b.check() is None and follow_b.staged_version == version
    assert b.brain.retriever.version == 1  # staged, not served

    def no_loading(*_: object, **__: object) -> None:
        raise AssertionError("the live version was staged: nothing is loaded at the swap")

    monkeypatch.setattr("server.admin.follow.open_retriever", no_loading)
    a.index.activate_if(version, a.index.live())
    assert follow_b.check() == version and served_answer(b) == new
    assert follow_b.staged_version is None
    monkeypatch.undo()

    withdrawn = a.index.build(tiny_kb())  # the gate will turn it away
    assert follow_b.check() is None and follow_b.staged_version == withdrawn
    a.index.drop(withdrawn)
    assert follow_b.check() is None and follow_b.staged_version is None
    assert b.brain.retriever.version == version


def in_step(barrier: threading.Barrier, call: Callable[..., T]) -> Callable[..., T]:
    """``call`` that first waits until every racer has come to it."""

    def wait_then_call(*args: Any, **kwargs: Any) -> T:
        barrier.wait(BARRIER_TIMEOUT_S)
        return call(*args, **kwargs)

    return wait_then_call


@pytest.mark.parametrize("meet_at", ["build", "activate_if"])
def test_two_publishes_at_once_one_wins_the_other_is_told(
    workers: tuple[Runtime, Runtime],
    chroma_server: ChromaServer,
    monkeypatch: pytest.MonkeyPatch,
    meet_at: str,
) -> None:
    """The two publishes meet after both read v1 as live: before building (the loser is turned away
    before its gate) or as both make their version live (the catalog's compare-and-set decides)."""
    meeting = threading.Barrier(2)
    for rt in workers:
        monkeypatch.setattr(rt.index, meet_at, in_step(meeting, getattr(rt.index, meet_at)))

    answers = {"a": "Answer from worker A: freeze the lost card in the app.", "b": "Worker B says: call us."}
    outcomes: dict[str, Published | BaseException] = {}

    def publish(name: str, rt: Runtime) -> None:
        try:
            kb = with_answer(tiny_kb(), PROBLEM, answers[name])
            outcomes[name] = publisher(rt).publish(kb, [], name, None)
        except BaseException as exc:  # the assertions below look at it
            outcomes[name] = exc

    threads = [threading.Thread(target=publish, args=pair) for pair in zip("ab", workers, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    monkeypatch.undo()  # what follows goes alone

    won = [name for name, got in outcomes.items() if isinstance(got, Published)]
    lost = [name for name, got in outcomes.items() if isinstance(got, PublishConflict)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    winner = outcomes[won[0]]
    assert isinstance(winner, Published)
    conflict = outcomes[lost[0]]
    assert isinstance(conflict, PublishConflict) and conflict.retryable and "publish again" in str(conflict)

    a, b = workers
    assert a.index.active_version() == winner.version and a.index.versions() == [1, winner.version]
    names = {c.name for c in make_client(Path("unused"), chroma_server.url).list_collections()}
    assert names == {f"{PREFIX}_meta", f"{PREFIX}_v1", f"{PREFIX}_v{winner.version}"}  # the loser's is gone
    for rt in workers:
        VersionFollower(rt).check()
        assert rt.brain.retriever.version == winner.version and served_answer(rt) == answers[won[0]]
    assert ReleaseLog(b.index).source(winner.version) == with_answer(tiny_kb(), PROBLEM, answers[won[0]])
    # The loser's number is never handed out again; its retry is a plain publish.
    again = publisher(workers["ab".index(lost[0])]).publish(tiny_kb(), [], lost[0], None)
    assert again.version == 4 and a.index.versions() == [1, winner.version, 4]


def test_racing_processes_never_share_an_activation_or_a_version_number(
    chroma_server: ChromaServer,
) -> None:
    """Two processes, each with its own client: per round exactly one activation wins, and the
    version numbers they claim at the same time are all different."""
    rounds, claims = 12, 8
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    plans = [Plan(name, chroma_server.url, "race", rounds, claims) for name in (1, 2)]
    racers = [ctx.Process(target=race, args=(plan, barrier, results)) for plan in plans]
    for proc in racers:
        proc.start()
    reports = [results.get(timeout=BARRIER_TIMEOUT_S) for _ in range(2 * (rounds + claims))]
    for proc in racers:
        proc.join()
    assert [proc.exitcode for proc in racers] == [0, 0]

    catalog = ChromaCatalog(make_client(Path("unused"), chroma_server.url), "race")
    for round_ in range(rounds):
        wins = [won for kind, r, _, won in reports if kind == "activate" and r == round_ and won is not None]
        assert len(wins) == 1 and wins[0][1] == round_ + 1, reports  # one winner, the next epoch
    live = catalog.live()
    last = next(won for kind, r, _, won in reports if kind == "activate" and r == rounds - 1 and won)
    assert live is not None and (live.version, live.epoch) == last
    claimed = [number for kind, _, _, number in reports if kind == "claim"]
    assert sorted(claimed) == list(range(1, 2 * claims + 1))
    with pytest.raises(CatalogConflict):
        catalog.activate(1, Live(1, 1))  # a stale expectation never wins
