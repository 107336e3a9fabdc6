"""Edits of the knowledge graph as pure functions: a knowledge base in, a new one out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from knowledge.io import lexicon_from_rows, lexicon_rows
from knowledge.schema import KnowledgeBase, Lexicon, ProblemStatus


class EditError(ValueError):
    """An edit would make the knowledge invalid; the message says why, in plain words."""


@dataclass(frozen=True)
class ProblemForm:
    product_id: str
    product_name: str
    scenario_id: str
    scenario_name: str
    problem_id: str
    standard_question: str
    similar_questions: list[str]
    answer: str
    tags: list[str]


def _validated(data: dict[str, Any]) -> KnowledgeBase:
    try:
        return KnowledgeBase.model_validate(data)
    except ValidationError as exc:
        raise EditError(
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from exc


def _find(data: dict[str, Any], problem_id: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    for product in data["products"]:
        for scenario in product["scenarios"]:
            for problem in scenario["problems"]:
                if problem["id"] == problem_id:
                    return product, scenario, problem
    raise EditError(f"no problem {problem_id!r}")


def _place(data: dict[str, Any], product_id: str, product_name: str, scenario_id: str,
           scenario_name: str) -> dict[str, Any]:  # fmt: skip
    """The scenario dict at that place, created (with its product) when new."""
    product = next((p for p in data["products"] if p["id"] == product_id), None)
    if product is None:
        product = {"id": product_id, "name": product_name or product_id, "description": "", "scenarios": []}
        data["products"].append(product)
    for other in data["products"]:
        for scenario in other["scenarios"]:
            if scenario["id"] == scenario_id:
                if other is not product:
                    raise EditError(f"scenario {scenario_id!r} belongs to product {other['id']!r}")
                found: dict[str, Any] = scenario
                return found
    scenario = {"id": scenario_id, "name": scenario_name or scenario_id, "description": "", "problems": []}
    product["scenarios"].append(scenario)
    return scenario


def _prune(data: dict[str, Any]) -> None:
    for product in data["products"]:
        product["scenarios"] = [s for s in product["scenarios"] if s["problems"]]
    data["products"] = [p for p in data["products"] if p["scenarios"]]


def upsert_problem(kb: KnowledgeBase, form: ProblemForm) -> KnowledgeBase:
    """Create the problem, or update it in place (moving it when its scenario changed)."""
    data = kb.model_dump(mode="python")
    fields = {
        "standard_question": form.standard_question.strip(),
        "similar_questions": [q.strip() for q in form.similar_questions if q.strip()],
        "answer": form.answer.strip(),
        "tags": [t.strip() for t in form.tags if t.strip()],
    }
    try:
        _, scenario, problem = _find(data, form.problem_id)
    except EditError:
        problem = {"id": form.problem_id, **fields}
        _place(data, form.product_id, form.product_name, form.scenario_id, form.scenario_name)[
            "problems"
        ].append(problem)
        return _validated(data)
    changed = any(problem.get(k) != v for k, v in fields.items())
    problem.update(fields)
    if changed:
        problem["version"] = int(problem.get("version", 1)) + 1
    if scenario["id"] != form.scenario_id:
        scenario["problems"].remove(problem)
        _place(data, form.product_id, form.product_name, form.scenario_id, form.scenario_name)[
            "problems"
        ].append(problem)
        _prune(data)
    return _validated(data)


def move_problem(kb: KnowledgeBase, problem_id: str, scenario_id: str) -> KnowledgeBase:
    data = kb.model_dump(mode="python")
    _, scenario, problem = _find(data, problem_id)
    target = next((s for p in data["products"] for s in p["scenarios"] if s["id"] == scenario_id), None)
    if target is None:
        raise EditError(f"no scenario {scenario_id!r}")
    scenario["problems"].remove(problem)
    target["problems"].append(problem)
    _prune(data)
    return _validated(data)


def set_status(kb: KnowledgeBase, problem_id: str, status: ProblemStatus) -> KnowledgeBase:
    """Retire a problem (it leaves the index but stays in the graph) or bring it back."""
    data = kb.model_dump(mode="python")
    _find(data, problem_id)[2]["status"] = status
    return _validated(data)


def rename_node(kb: KnowledgeBase, node_id: str, name: str, description: str | None = None) -> KnowledgeBase:
    data = kb.model_dump(mode="python")
    nodes = [*data["products"], *(s for p in data["products"] for s in p["scenarios"])]
    node = next((n for n in nodes if n["id"] == node_id), None)
    if node is None:
        raise EditError(f"no product or scenario {node_id!r}")
    node["name"] = name.strip() or node["name"]
    if description is not None:
        node["description"] = description.strip()
    return _validated(data)


def add_similar_question(kb: KnowledgeBase, problem_id: str, text: str) -> KnowledgeBase:
    data = kb.model_dump(mode="python")
    problem = _find(data, problem_id)[2]
    if text.strip() and text.strip() not in problem["similar_questions"]:
        problem["similar_questions"].append(text.strip())
        problem["version"] = int(problem.get("version", 1)) + 1
    return _validated(data)


LEXICON_TABLE_COLUMNS = [
    "kind",
    "word",
    "synonyms",
    "entity_type",
    "product",
    "scenario",
    "ambiguous_products",
]


def lexicon_table(lexicon: Lexicon) -> list[list[str]]:
    """The lexicon as table rows; list cells are comma separated."""
    return [
        [", ".join(v) if isinstance(v := row.get(c), list) else (v or "") for c in LEXICON_TABLE_COLUMNS]
        for row in lexicon_rows(lexicon)
    ]


def with_lexicon_table(kb: KnowledgeBase, rows: list[list[Any]]) -> KnowledgeBase:
    parsed: list[dict[str, Any]] = []
    for row in rows:
        cells: dict[str, Any] = {
            c: ("" if v is None else str(v)).strip() for c, v in zip(LEXICON_TABLE_COLUMNS, row, strict=False)
        }
        if not cells.get("word"):
            continue
        for column in ("synonyms", "ambiguous_products"):
            cells[column] = [s.strip() for s in str(cells.get(column, "")).split(",") if s.strip()]
        parsed.append(cells)
    try:
        lexicon = lexicon_from_rows(parsed)
    except ValueError as exc:
        raise EditError(str(exc)) from exc
    data = kb.model_dump(mode="python")
    data["lexicon"] = lexicon.model_dump(mode="python")
    return _validated(data)
