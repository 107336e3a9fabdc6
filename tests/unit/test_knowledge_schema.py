"""Schema and YAML loading of the knowledge graph."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from knowledge.loader import KnowledgeFormatError, load_knowledge_base, save_knowledge_base
from knowledge.schema import KnowledgeBase, Lexicon, LexiconWord, Problem, Product, Scenario

DEMO = Path(__file__).resolve().parents[2] / "knowledge" / "data" / "demo_bank"


def _kb(*problems: Problem, lexicon: Lexicon | None = None) -> KnowledgeBase:
    scenario = Scenario(id="card_delivery", name="Card delivery", problems=list(problems))
    return KnowledgeBase(
        name="Test",
        products=[Product(id="debit_card", name="Debit card", scenarios=[scenario])],
        lexicon=lexicon or Lexicon(),
    )


def _problem(pid: str = "card_arrival") -> Problem:
    return Problem(id=pid, standard_question="Where is my card?", answer="It arrives in 3 working days.")


def test_demo_bank_covers_the_whole_data_set() -> None:
    kb = load_knowledge_base(DEMO)
    intents = {i for ref in kb.problem_refs() for i in ref.problem.source_intents}
    assert len(intents) == 77
    assert len(kb.products) >= 6 and kb.scenario_count() >= 20
    assert len(kb.lexicon) >= 300
    assert all(ref.problem.answer.strip() for ref in kb.problem_refs())


def test_duplicate_problem_ids_are_rejected() -> None:
    with pytest.raises(ValidationError, match="duplicate problem id"):
        _kb(_problem(), _problem())


def test_ids_must_be_snake_case() -> None:
    with pytest.raises(ValidationError, match="snake_case"):
        _problem("Card Arrival")


def test_lexicon_links_must_name_real_nodes() -> None:
    word = LexiconWord(word="credit card", entity_type="product", product="credit_card")
    with pytest.raises(ValidationError, match="unknown product"):
        _kb(_problem(), lexicon=Lexicon(entity_words=[word]))


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Problem.model_validate({"id": "x_y", "standard_question": "abc?", "answer": "long enough", "oops": 1})


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    kb = load_knowledge_base(DEMO)
    save_knowledge_base(kb, tmp_path)
    assert load_knowledge_base(tmp_path) == kb


def test_broken_yaml_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "products").mkdir()
    (tmp_path / "products" / "bad.yaml").write_text("id: [unclosed\n")
    with pytest.raises(KnowledgeFormatError, match="not valid YAML"):
        load_knowledge_base(tmp_path)


def test_empty_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeFormatError, match="no products"):
        load_knowledge_base(tmp_path)


def test_find_ref_places_one_problem_without_listing_all() -> None:
    retired = Problem(
        id="old_card", standard_question="Old?", answer="No longer offered, sorry.", status="retired"
    )
    kb = _kb(_problem(), retired)
    ref = kb.find_ref("card_arrival")
    assert ref is not None and (ref.product_id, ref.scenario_id) == ("debit_card", "card_delivery")
    assert ref == kb.problem_refs()[0]
    assert kb.find_ref("old_card") is None
    found = kb.find_ref("old_card", include_retired=True)
    assert found is not None and found.problem.id == "old_card"
    assert kb.find_ref("nowhere") is None
