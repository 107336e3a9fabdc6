"""The knowledge graph: Product → Scenario → Problem, plus the Lexicon.

Content lives as YAML under ``knowledge/data/<kb>/``: one file per product
(``products/<product_id>.yaml``) and one ``lexicon.yaml``. These models are the
single definition of that format; loading validates every file against them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ID = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


def _check_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"id {value!r} must be snake_case: [a-z][a-z0-9_]{{1,63}}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ProblemStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"


class Problem(_Strict):
    """One knowledge point: a standard question and its one approved answer."""

    id: str
    standard_question: str = Field(min_length=3)
    similar_questions: list[str] = Field(default_factory=list)
    answer: str = Field(min_length=10)
    source_intents: list[str] = Field(default_factory=list)
    conditions: str | None = None
    tags: list[str] = Field(default_factory=list)
    status: ProblemStatus = ProblemStatus.PUBLISHED
    version: int = Field(default=1, ge=1)

    _id_ok = field_validator("id")(_check_id)

    @property
    def questions(self) -> list[str]:
        """The standard question followed by every similar question."""
        return [self.standard_question, *self.similar_questions]


class Scenario(_Strict):
    id: str
    name: str
    description: str = ""
    problems: list[Problem] = Field(min_length=1)

    _id_ok = field_validator("id")(_check_id)


class Product(_Strict):
    id: str
    name: str
    description: str = ""
    scenarios: list[Scenario] = Field(min_length=1)

    _id_ok = field_validator("id")(_check_id)


class WordKind(StrEnum):
    INTENT = "intent"
    ENTITY = "entity"
    ATTRIBUTE = "attribute"


class LexiconWord(_Strict):
    """A word (or phrase) of the domain, its synonyms, and what it points at.

    ``entity_type`` is set for entity words (product, channel, currency, ...).
    ``product`` / ``scenario`` link a word to a node of the graph: a detected
    word whose ``product`` is set narrows retrieval to that product.
    ``ambiguous_products`` marks a generic word ("card") that may mean any of
    several products: when the customer names none of them and the knowledge
    has a close answer under more than one, the teller asks which one.
    """

    word: str = Field(min_length=1)
    synonyms: list[str] = Field(default_factory=list)
    entity_type: str | None = None
    product: str | None = None
    scenario: str | None = None
    ambiguous_products: list[str] = Field(default_factory=list)

    @property
    def forms(self) -> list[str]:
        return [self.word, *self.synonyms]


class Lexicon(_Strict):
    intent_words: list[LexiconWord] = Field(default_factory=list)
    entity_words: list[LexiconWord] = Field(default_factory=list)
    attribute_words: list[LexiconWord] = Field(default_factory=list)

    def words(self) -> list[tuple[WordKind, LexiconWord]]:
        return [
            *((WordKind.INTENT, w) for w in self.intent_words),
            *((WordKind.ENTITY, w) for w in self.entity_words),
            *((WordKind.ATTRIBUTE, w) for w in self.attribute_words),
        ]

    def __len__(self) -> int:
        return len(self.intent_words) + len(self.entity_words) + len(self.attribute_words)


class ProblemRef(BaseModel):
    """Where a problem sits in the graph (flattened for indexing and citing)."""

    model_config = ConfigDict(frozen=True)

    problem: Problem
    product_id: str
    product_name: str
    scenario_id: str
    scenario_name: str


class RefFinder(Protocol):
    """Finds where a problem sits: a :class:`KnowledgeBase` (a walk of its graph) or a
    retriever of one of its versions (a lookup)."""

    def find_ref(self, problem_id: str, *, include_retired: bool = False) -> ProblemRef | None: ...


class KnowledgeBase(_Strict):
    name: str
    products: list[Product] = Field(min_length=1)
    lexicon: Lexicon = Field(default_factory=Lexicon)

    @model_validator(mode="after")
    def _unique_ids_and_links(self) -> KnowledgeBase:
        seen: dict[str, str] = {}
        scenario_ids: set[str] = set()
        for product in self.products:
            for kind, node_id in [("product", product.id)] + [("scenario", s.id) for s in product.scenarios]:
                key = f"{kind}:{node_id}"
                if key in seen:
                    raise ValueError(f"duplicate {kind} id {node_id!r}")
                seen[key] = node_id
            scenario_ids.update(s.id for s in product.scenarios)
            for scenario in product.scenarios:
                for problem in scenario.problems:
                    key = f"problem:{problem.id}"
                    if key in seen:
                        raise ValueError(f"duplicate problem id {problem.id!r}")
                    seen[key] = problem.id
        product_ids = {p.id for p in self.products}
        for _, word in self.lexicon.words():
            for linked in [word.product, *word.ambiguous_products]:
                if linked is not None and linked not in product_ids:
                    raise ValueError(f"lexicon word {word.word!r} names unknown product {linked!r}")
            if word.scenario is not None and word.scenario not in scenario_ids:
                raise ValueError(f"lexicon word {word.word!r} names unknown scenario {word.scenario!r}")
        return self

    def _placed(self, include_retired: bool) -> Iterator[tuple[Product, Scenario, Problem]]:
        for product in self.products:
            for scenario in product.scenarios:
                for problem in scenario.problems:
                    if include_retired or problem.status is not ProblemStatus.RETIRED:
                        yield product, scenario, problem

    @staticmethod
    def _ref(product: Product, scenario: Scenario, problem: Problem) -> ProblemRef:
        return ProblemRef(
            problem=problem,
            product_id=product.id,
            product_name=product.name,
            scenario_id=scenario.id,
            scenario_name=scenario.name,
        )

    def problem_refs(self, *, include_retired: bool = False) -> list[ProblemRef]:
        return [self._ref(*placed) for placed in self._placed(include_retired)]

    def find_ref(self, problem_id: str, *, include_retired: bool = False) -> ProblemRef | None:
        """Where ``problem_id`` sits in the graph, or None; builds one ref, not one per problem."""
        for placed in self._placed(include_retired):
            if placed[2].id == problem_id:
                return self._ref(*placed)
        return None

    def scenario_count(self) -> int:
        return sum(len(p.scenarios) for p in self.products)
