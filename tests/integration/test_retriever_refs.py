"""The retriever places a cited problem by lookup, retired problems included."""

from __future__ import annotations

from knowledge.retrieval import Retriever
from knowledge.schema import ProblemStatus
from server.runtime import Runtime


def test_find_ref_agrees_with_the_graph_walk(runtime: Runtime) -> None:
    retriever = runtime.brain.retriever
    for ref in retriever.refs[:: max(1, len(retriever.refs) // 15)]:
        assert retriever.find_ref(ref.problem.id) == retriever.kb.find_ref(ref.problem.id) == ref
    assert retriever.find_ref("no_such_problem", include_retired=True) is None


def test_a_retired_problem_is_found_only_when_asked_for(runtime: Runtime) -> None:
    live = runtime.brain.retriever
    kb = live.kb.model_copy(deep=True)
    problem = kb.products[0].scenarios[0].problems[0]
    problem.status = ProblemStatus.RETIRED
    retriever = Retriever(kb, live.version, runtime.index)
    assert retriever.find_ref(problem.id) is None  # not retrievable, not citable
    found = retriever.find_ref(problem.id, include_retired=True)
    assert found is not None and found.problem.id == problem.id
    assert found.product_id == kb.products[0].id
