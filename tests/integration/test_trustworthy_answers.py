"""Issue #17 on the real demo knowledge base: each kind of wrong answer seen, in our own words.

Every case asserts the decision and its reason. The wrong answer each used to get is named
in the comment: the test fails if it comes back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.embeddings import Embedder
from server.brain.brain import BrainReply
from server.brain.policy import Decision, Reason
from server.runtime import Runtime, open_runtime
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def runtime(
    tmp_path_factory: pytest.TempPathFactory, demo_index_dir: Path, embedder: Embedder
) -> Iterator[Runtime]:
    """One runtime for the module: every test talks in sessions of its own."""
    settings = make_settings(tmp_path_factory.mktemp("trust"))
    settings.knowledge.index_dir = demo_index_dir
    rt = open_runtime(settings, embedder=embedder)
    try:
        yield rt
    finally:
        rt.close()


def ask(runtime: Runtime, text: str, session: str | None = None) -> BrainReply:
    return runtime.brain.respond(session or f"alone-{text}", text)


def cited(reply: BrainReply) -> list[str]:
    return [c.problem_id for c in reply.citations]


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("I'd like to order a new cheque book", "cheque book"),  # was: paying in a cheque
        ("How can I cash in my loyalty points?", "reward points"),  # was: Visa or Mastercard
        ("Do you offer mortgages?", "mortgage"),
        ("Can I open a joint account with my partner?", "joint account"),
    ],
)
def test_a_product_the_bank_has_no_answer_for_is_not_covered_not_the_nearest(
    runtime: Runtime, text: str, missing: str
) -> None:
    reply = ask(runtime, text)
    assert (reply.decision, reply.reason) == (Decision.HANDOFF, Reason.NOT_COVERED)
    assert missing in reply.text and "colleague" in reply.text
    assert not reply.citations


def test_interest_on_savings_is_the_no_savings_answer_not_the_credit_card_apr(runtime: Runtime) -> None:
    reply = ask(runtime, "What interest would my savings earn if I kept them with you?")
    assert (reply.decision, cited(reply)) == (Decision.ANSWER, ["savings_and_interest"])


@pytest.mark.parametrize(
    "text",
    [
        "Can you put a freeze on my whole account?",
        "please unlock my bank account",  # was: PIN blocked
        "my account has been locked, why?",
        "There's a hold on my account",  # was: cash deposit not showing
    ],
)
def test_acting_on_the_accounts_security_reaches_a_person_first(runtime: Runtime, text: str) -> None:
    reply = ask(runtime, text)
    assert (reply.decision, reply.reason) == (Decision.HANDOFF, Reason.SECURITY)
    assert "pin_blocked" not in cited(reply)
    assert "balance_not_updated_after_cheque_or_cash_deposit" not in cited(reply)


def test_a_country_word_does_not_pull_in_a_top_up_answer(runtime: Runtime) -> None:
    reply = ask(runtime, "Will I pay a fee when I use my card in Spain?")  # was: top up by card charge
    assert "top_up_by_card_charge" not in cited(reply)
    assert reply.decision is not Decision.REFUSE


def test_wanting_a_new_credit_card_is_not_the_lost_card_answer(runtime: Runtime) -> None:
    reply = ask(runtime, "I'd love to get a credit card from you")  # was: lost credit card
    assert "lost_credit_card" not in cited(reply)
    assert reply.decision is not Decision.REFUSE


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("what's my balance right now", "view_balance"),
        ("where can I find my monthly statement", "account_statement"),
    ],
)
def test_account_specific_requests_get_where_to_see_it_in_the_app(
    runtime: Runtime, text: str, problem: str
) -> None:
    reply = ask(runtime, text)
    assert (reply.decision, cited(reply)) == (Decision.ANSWER, [problem])


def test_a_bank_question_is_never_brushed_off_as_off_topic(runtime: Runtime) -> None:
    for n, text in enumerate(["could I remortgage my flat with you", "do you offer pensions"]):
        reply = ask(runtime, text, f"bank-{n}")
        assert reply.decision is not Decision.REFUSE
        assert "not something I can help with" not in reply.text


def test_off_domain_is_still_refused_politely(runtime: Runtime) -> None:
    for n, text in enumerate(
        ["what's the weather like in Leeds tomorrow", "how do I reset my gmail password"]
    ):
        reply = ask(runtime, text, f"off-{n}")
        assert (reply.decision, reply.reason) == (Decision.REFUSE, Reason.OUT_OF_SCOPE)


def test_a_follow_up_uses_the_conversation(runtime: Runtime) -> None:
    first = ask(runtime, "My card still hasn't arrived, what should I do?", "follow")
    assert (first.decision, cited(first)) == (Decision.ANSWER, ["card_arrival"])
    second = ask(runtime, "and how long does that take?", "follow")
    assert second.decision is Decision.ANSWER  # was: refused as off-topic
    assert cited(second)[0] in {"card_arrival", "card_delivery_estimate"}


def test_a_follow_up_naming_another_product_moves_to_it(runtime: Runtime) -> None:
    ask(runtime, "How do I activate my debit card?", "switch")
    reply = ask(runtime, "and for a credit card?", "switch")
    assert reply.decision is Decision.ANSWER
    assert reply.citations[0].product == "credit_card"


def test_a_follow_up_the_conversation_cannot_settle_is_clarified_not_refused(runtime: Runtime) -> None:
    ask(runtime, "How do I activate my debit card?", "vague")
    reply = ask(runtime, "and what about the colour?", "vague")
    assert reply.decision is not Decision.REFUSE


@pytest.mark.parametrize("text", ["Has my rent payment gone out yet?", "How much do I still owe on my loan?"])
def test_the_customers_own_live_data_goes_to_a_person_not_a_near_answer(runtime: Runtime, text: str) -> None:
    reply = ask(runtime, text)
    assert (reply.decision, reply.reason) == (Decision.HANDOFF, Reason.ACCOUNT_DATA)
    assert "can't see your account" in reply.text
