"""Does a problem address *this* question? Concepts from the lexicon, checked against the graph.

Retrieval finds the problem that sits nearest; it does not know whether that
problem answers the question. Nearest is wrong when the question names
something the problem is not about ("interest on my savings account" is not the
credit card's APR) or when the problem is about an action the question never
asks for ("fee to use my card in France" is not "topping up by card").

Each problem gets a :class:`ConceptProfile` from its own questions and answer:
the lexicon words they mention (countries and foreign currencies counted as the
groups *abroad* and *foreign currency*), and the intent words most of its
questions share (its *core* actions). A question's *key* concepts are the
lexicon words that name what it is about: products, payment methods, card
details, documents, merchants, places, and a few attributes (interest, balance,
PIN, credit score). :meth:`ConceptCheck.conflict` says why a problem does not
fit a question, or None when it does:

- a key concept of the question that the problem never mentions, and
- a core action of the problem that the question does not ask for.

The same lexicon also answers "is this about banking at all": :meth:`ConceptCheck.anchored`
is true when a question names a banking thing (a product, a payment method, a
card or account detail, a banking action or attribute) or uses banking words
(``_BANK_WORDS``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from knowledge.lexicon import LexiconMatcher, Mention
from knowledge.schema import ProblemRef, WordKind

KEY_ENTITY_TYPES = frozenset(
    {
        "product",
        "not_offered",
        "payment_method",
        "account_detail",
        "card_detail",
        "card_network",
        "merchant_type",
        "document",
        "process",
        "country",
        "currency",
        "device",
    }
)
KEY_ATTRIBUTES = frozenset(
    {
        "interest",
        "PIN",
        "credit score",
        "cash advance",
        "representative APR",
        "credit limit",
        "annual fee",
        "transaction history",
        "date of birth",
        "email address",
        "phone number",
        "address",
        "name",
        "tracking number",
        "express delivery",
        "contactless limit",
    }
)
ANCHOR_ENTITY_TYPES = frozenset(
    {"product", "payment_method", "account_detail", "card_detail", "process", "currency"}
)
ANCHOR_ATTRIBUTES = KEY_ATTRIBUTES | {
    "balance",
    "exchange fee",
    "transfer fee",
    "withdrawal fee",
    "top-up fee",
    "replacement fee",
    "top-up limit",
    "withdrawal limit",
    "daily transfer limit",
    "transaction",
    "declined",
    "refund reference",
    "new payee",
    "minimum payment",
    "late fee",
    "loan amount",
    "monthly repayment",
    "early repayment fee",
    "settlement figure",
    "interbank rate",
    "wrong rate",
    "payments abroad",
    "online payments",
    "markup",
    "pending",
    "reverted",
    "personal details",
}
MONEY_ACTIONS = frozenset({"top up", "withdraw", "transfer", "deposit", "exchange", "repay", "borrow"})
ANCHOR_INTENTS = frozenset(
    {
        "top up",
        "withdraw",
        "transfer",
        "deposit",
        "refund",
        "dispute",
        "repay",
        "overpay",
        "borrow",
        "unlock account",
        "stop payment",
        "cancel direct debit",
        "pay off early",
        "miss payment",
        "verify top-up",
        "show pin",
        "contactless pay",
        "charge twice",
    }
)
# Words that make a line about banking on their own ("can I top up with Apple Pay?") ...
_BANK_THINGS = re.compile(
    r"\b(?:top(?:\s|-)?ups?|topp?ing(?:\s|-)up|topped(?:\s|-)up|exchange\s+rates?|currenc(?:y|ies)|"
    r"transfers?|transferr(?:ed|ing)|debit\s+cards?|credit\s+cards?|virtual\s+cards?|cards?|"
    r"accounts?|atms?|cash\s*machines?|pin|iban|sort\s+code|passcode|direct\s+debits?|"
    r"standing\s+orders?|refunds?|refunded|deposit(?:s|ed)?|withdraw(?:al|als|n|ing)?|"
    r"verify(?:ing)?\s+(?:my\s+)?identity|identity\s+(?:check|verification)|cheques?|"
    r"contactless|chargeback|statements?|balance)\b",
    re.IGNORECASE,
)
# ... and words that do when the customer speaks of their own money or to the bank ("my savings").
_BANK_WORDS = re.compile(
    r"\b(?:bank(?:ing|s)?|money|cash|pa(?:y|id|yment|yments)|charged?|charges|fees?|spen[dt]|"
    r"loans?|lone|mortgages?|remortgage|overdrafts?|savings?|interest|checks?|branch(?:es)?|"
    r"transactions?|isas?|pensions?|insurance|credit\s+(?:report|score|file|rating)|finance|"
    r"payees?|lounge|app|"
    r"cashback|reward\s+points|crypto\w*|bitcoin|invest\w*|stocks?|shares|£|€|\$|pounds?|"
    r"euros?|dollars?|quid|fraud\w*|scam\w*|stolen|frozen|blocked)\b",
    re.IGNORECASE,
)
# Asking what the bank offers is about the bank, whatever the product ("do you offer pensions?").
_ASKS_THE_BANK = re.compile(
    r"\b(?:do|does|can|could|will|would)\s+(?:you|demo\s+bank)\s+(?:\w+\s+)?"
    r"(?:offer|do|have|provide|sell|give|issue|arrange|support)\b"
    r"|\byour\s+(?:\w+\s+)?(?:branch(?:es)?|app|bank|products?|plans?|services?|rates?)\b",
    re.IGNORECASE,
)
# Another organisation, or the market in general: not a question for this bank's teller, even with
# banking words in it ("open an account at Barclays", "the best ISA on the market").
_ELSEWHERE = re.compile(
    r"\b(?:at|with|from|of|on|in|through|via)\s+(?:the\s+)?(?:barclays|hsbc|lloyds|natwest|santander|"
    r"monzo|revolut|starling|nationwide|halifax|tsb|metro\s+bank|first\s+direct|virgin\s+money|"
    r"chase|experian|equifax|clearscore|credit\s+karma|bank\s+of\s+england|hmrc|the\s+government|"
    r"the\s+council|aviva|direct\s+line|vanguard|hargreaves|trading\s*212|coinbase|binance|"
    r"another\s+bank|a\s+different\s+bank|apple(?!\s+(?:pay|watch))|tesla|amazon(?!\s+pay))\b"
    r"|\b(?:best|cheapest|good)\s+(?:\w+\s+){0,3}(?:on\s+the\s+market|right\s+now|at\s+the\s+moment|"
    r"near\s+me|this\s+year|to\s+(?:invest|buy))"
    r"|\b(?:recommend|suggest)\s+(?:me\s+)?(?:a|an|some)\s+(?:\w+\s+)?(?:broker|adviser|advisor|"
    r"provider|fund|platform|lender)"
    r"|\bworth\s+(?:\w+\s+){0,3}(?:pension|isa|invest\w*|shares|stocks|crypto\w*|bitcoin|property)"
    r"|\b(?:should\s+i\s+(?:buy|invest|sell)|is\s+(?:\w+\s+){0,2}a\s+good\s+investment|stock\s+price|"
    r"price\s+of\s+(?:bitcoin|gold|shares|oil)|rate\s+of\s+inflation|"
    r"(?:universal\s+credit|child\s+benefit|state\s+pension|national\s+insurance|income\s+tax|"
    r"inheritance\s+tax|council\s+tax|tax\s+relief|personal\s+allowance))\b",
    re.IGNORECASE,
)
# Another service's own account or login: off the domain unless the line also names a bank thing
# ("my Netflix subscription declined my card" is about the card).
_OTHER_SERVICE = re.compile(
    r"\bmy\s+(?:apple\s+id|icloud|gmail|google\s+account|netflix|spotify|amazon\s+(?:account|prime)|"
    r"paypal|facebook|instagram|twitter|tiktok|wi-?fi|broadband|router)\b",
    re.IGNORECASE,
)
_PERSONAL = re.compile(r"\b(?:my|mine|our|i|i'm|i've|me|you|your|demo\s+bank)\b", re.IGNORECASE)
ABROAD = "abroad"
FOREIGN_CURRENCY = "foreign currency"
_HOME = {"UK", "GBP"}
CORE_SHARE = 0.6  # an intent word is a core action of a problem when this share of its questions say it
# A question this close to a problem's own questions words its action its own way ("edit my details"
# for "change my details"): the missing-action rule is for the looser matches that go wrong.
PARAPHRASE_DENSE = 0.8


def _concept(mention: Mention) -> str | None:
    """The concept a mention stands for (places and currencies grouped), or None if it is not one."""
    word = mention.word
    if word.word in _HOME:
        return None
    if word.entity_type == "country":
        return ABROAD
    if word.entity_type == "currency" and word.word != "cryptocurrency":
        return FOREIGN_CURRENCY
    return word.word


def key_concepts(mentions: Iterable[Mention]) -> set[str]:
    """The concepts that say what a question is about (see the module docstring)."""
    found: set[str] = set()
    for m in mentions:
        if m.kind is WordKind.ENTITY and m.word.entity_type in KEY_ENTITY_TYPES:
            concept = _concept(m)
        elif m.kind is WordKind.ATTRIBUTE and m.word.word in KEY_ATTRIBUTES:
            concept = m.word.word
        else:
            continue
        if concept is not None:
            found.add(concept)
    return found - _GENERIC


# Words that say only "a card" or "an account": every problem is about one of those.
_GENERIC = frozenset({"card", "account", "app", "phone"})


def _all_concepts(mentions: Iterable[Mention]) -> set[str]:
    found = {_concept(m) for m in mentions}
    found |= {m.word.word for m in mentions}  # "France" itself as well as "abroad"
    return {c for c in found if c is not None}


@dataclass(frozen=True)
class ConceptProfile:
    """What one problem is about: every concept its text mentions, and its core actions."""

    mentioned: frozenset[str]
    core_actions: frozenset[str]


@dataclass(frozen=True)
class Conflict:
    """Why a problem does not address a question."""

    kind: str  # "unsupported_concept" | "missing_action"
    concept: str


class ConceptCheck:
    """Profiles of every problem of one knowledge version, and the compatibility check."""

    def __init__(self, refs: Sequence[ProblemRef], matcher: LexiconMatcher) -> None:
        self._matcher = matcher
        self._refs = {ref.problem.id: ref for ref in refs}
        # Profiled on first use (a few problems per question): opening a version stays fast.
        self._profiles: dict[str, ConceptProfile] = {}

    def _profile(self, ref: ProblemRef) -> ConceptProfile:
        problem = ref.problem
        questions = [problem.standard_question, *problem.similar_questions]
        per_question = [self._matcher.mentions(q) for q in questions]
        mentioned: set[str] = set()
        actions: Counter[str] = Counter()
        for mentions in per_question:
            mentioned |= _all_concepts(mentions)
            # Core: the actions and the non-product key concepts most questions share (a product is
            # the retrieval's to weigh: "card" alone may mean the debit or the credit card).
            not_products = [m for m in mentions if m.word.entity_type != "product"]
            actions.update(
                {m.word.word for m in mentions if m.kind is WordKind.INTENT} | key_concepts(not_products)
            )
        context = " ".join([problem.answer, ref.scenario_name, ref.product_name])
        mentioned |= _all_concepts(self._matcher.mentions(context))
        core = {word for word, n in actions.items() if n >= CORE_SHARE * len(questions)}
        return ConceptProfile(frozenset(mentioned), frozenset(core))

    def profile(self, problem_id: str) -> ConceptProfile | None:
        found = self._profiles.get(problem_id)
        if found is None and problem_id in self._refs:
            found = self._profiles[problem_id] = self._profile(self._refs[problem_id])
        return found

    def conflict(self, mentions: Sequence[Mention], problem_id: str, dense: float = 0.0) -> Conflict | None:
        """Why ``problem_id`` does not address a question with these ``mentions`` (None: it may).

        ``dense``: the question's similarity to the problem's questions (retrieval's).
        """
        profile = self.profile(problem_id)
        if profile is None:
            return None
        for concept in sorted(key_concepts(mentions)):
            if concept not in profile.mentioned:
                return Conflict("unsupported_concept", concept)
        for m in mentions:  # a money movement the question asks about ("top up") the problem never names
            if (
                m.kind is WordKind.INTENT
                and m.word.word in MONEY_ACTIONS
                and m.word.word not in profile.mentioned
            ):
                return Conflict("unsupported_action", m.word.word)
        if dense >= PARAPHRASE_DENSE:
            return None
        words = {m.word.word for m in mentions} | key_concepts(mentions)
        said = " ".join(w.lower() for w in words)  # "top-up limit" says "top up"
        for action in sorted(profile.core_actions):
            if action.lower() not in said.replace("-", " "):
                return Conflict("missing_action", action)
        return None

    def uncovered(self, mentions: Sequence[Mention]) -> list[str]:
        """The question's key concepts that no problem of this version mentions ("mortgage")."""
        return sorted(
            c
            for c in key_concepts(mentions)
            if not any(c in p.mentioned for p in map(self.profile, self._refs) if p is not None)
        )

    def same_action(self, mentions: Sequence[Mention], problem_id: str) -> bool:
        """The problem's questions name an action the question names (or the question names none)."""
        asked = {m.word.word for m in mentions if m.kind is WordKind.INTENT}
        profile = self.profile(problem_id)
        return not asked or (profile is not None and bool(asked & profile.mentioned))

    def anchored(self, text: str, mentions: Sequence[Mention]) -> bool:
        """Is the question about banking with this bank: it names one of the bank's things (a
        lexicon word of the domain), or asks about the customer's own money in bank words, and
        is not about another organisation or the market in general?"""
        if elsewhere(text):
            return False
        if other_service(text):
            return False
        for m in mentions:
            if m.kind is WordKind.ENTITY and m.word.entity_type in ANCHOR_ENTITY_TYPES:
                return True
            if m.kind is WordKind.ATTRIBUTE and m.word.word in ANCHOR_ATTRIBUTES:
                return True
            if m.kind is WordKind.INTENT and m.word.word in ANCHOR_INTENTS:
                return True
        if _BANK_THINGS.search(text) or _ASKS_THE_BANK.search(text):
            return True
        return bool(_BANK_WORDS.search(text)) and bool(_PERSONAL.search(text))


def elsewhere(text: str) -> bool:
    """About another organisation, a public service, or the market in general."""
    return bool(_ELSEWHERE.search(text))


def other_service(text: str) -> bool:
    """About another service's own account or login, and no bank thing named."""
    return bool(_OTHER_SERVICE.search(text)) and not _BANK_THINGS.search(text)
