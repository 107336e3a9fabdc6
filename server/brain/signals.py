"""Wording that decides a turn before retrieval does: a person asked for, a complaint,
urgent fraud, a security action on the account, small talk."""

from __future__ import annotations

import re
from dataclasses import dataclass


def _any(*phrases: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(phrases) + r")\b", re.IGNORECASE)


_HUMAN = _any(
    r"(?:talk|speak|chat)\s+(?:to|with)\s+(?:a|an|some|real|actual|live)?\s*(?:real\s+|live\s+|actual\s+)?"
    r"(?:person|human|agent|operator|advisor|adviser|someone|somebody|representative|manager|staff|colleague)",
    r"(?:real|live|actual)\s+(?:person|human|agent)",
    r"(?:human|live)\s+(?:agent|support|operator)",
    r"customer\s+(?:service|support)\s+(?:agent|representative|person)",
    r"connect\s+me\s+(?:to|with)",
    r"transfer\s+me\s+to\s+(?:a|an|someone|somebody)",
    r"(?:want|need)\s+(?:a|an)\s+(?:human|person|agent|operator)",
    r"are\s+you\s+a\s+(?:robot|bot)\b.*\bperson",
)
_COMPLAINT = _any(
    r"(?:make|file|raise|lodge|register)\s+(?:a|an)?\s*(?:formal\s+)?complaint",
    r"i\s+(?:want\s+to|wish\s+to|would\s+like\s+to)\s+complain",
    r"this\s+is\s+(?:ridiculous|unacceptable|outrageous|a\s+disgrace|a\s+joke)",
    r"(?:terrible|awful|appalling|worst)\s+(?:service|bank)",
    r"ombudsman",
)
_URGENT = _any(
    r"(?:card|wallet|purse|phone)\s+(?:was|has\s+been|got|is)\s+stolen",
    r"stole\s+my",
    r"someone\s+(?:stole|has|took|used|is\s+using)\s+my\s+(?:card|account|details|phone)",
    r"(?:fraud|fraudulent|fraudster|scam(?:med)?|hacked|identity\s+theft)",
    r"(?:don'?t|do\s+not|didn'?t|did\s+not)\s+recogni[sz]e\s+(?:this|these|a|any)\s+(?:payments?|transactions?)"
    r"\b.*\b(?:stolen|fraud)",
    r"unauthori[sz]ed\s+(?:payments?|transactions?|transfers?|withdrawals?|access|use)",
    r"(?:cloned|skimmed)",
    r"(?:didn'?t|did\s+not|never)\s+(?:make|authori[sz]e|add|set\s+up|approve)\b.*"
    r"\b(?:payments?|transactions?|transfers?|withdrawals?|payees?|phone|device)",
    r"(?:payments?|transactions?|transfers?|withdrawals?|payees?|purchases?|charges?)\b[^.?!]{0,40}\b"
    r"(?:i|we)\s+(?:didn'?t|did\s+not|never)\s+(?:make|add|authori[sz]e|do|set\s+up|approve)",
    r"safe\s+account",
    r"(?:forc(?:ed|ing)|made|threaten(?:ed|ing)|pressur(?:ed|ing))\s+(?:me\s+)?(?:by\s+someone\s+)?to\s+"
    r"(?:send|transfer|pay|move|tell|give)",
    r"(?:at\s+knifepoint|at\s+gunpoint|mugged|robbed)",
    r"(?:someone|somebody|a\s+stranger|my\s+ex)\s+(?:has\s+)?(?:took|taken|take|added|moved|moving|"
    r"is\s+moving|been\s+moving|knows|logged|accessed|got\s+into)\b.*\b(?:money|account|phone|passcode|pin)",
    r"without\s+my\s+(?:knowledge|permission|consent)",
)
_ACT = r"(?:freeze|froze|block|lock|suspend|unlock|unblock|unfreeze|un-freeze|close\s+down|shut\s+down)"
_STATE = r"(?:blocked|locked|frozen|suspended|restricted|on\s+hold|closed\s+down|shut\s+down|locked\s+out)"
_SECURITY = _any(
    _ACT + r"\s+(?:my|our|the|this)\s+(?:whole\s+|entire\s+|bank\s+|current\s+|demo\s+bank\s+)*account",
    _ACT + r"\s+(?:my|the|this)\s+(?:debit\s+|credit\s+|bank\s+)?card\s+(?:right\s+)?now",
    r"(?:please|can\s+you|could\s+you|i\s+need\s+you\s+to|i\s+want\s+you\s+to)\s+"
    + _ACT
    + r"\s+(?:my|the)\s+(?:debit\s+|credit\s+|bank\s+)?card",
    r"account\s+(?:is|has\s+been|was|got|seems|appears\s+to\s+be|'s)\s+(?:been\s+)?" + _STATE,
    r"(?:a\s+)?(?:hold|freeze|block|restriction|lock)\s+on\s+(?:my|our|the)\s+account",
    r"locked\s+out\s+of\s+my\s+(?:bank\s+)?account",
    r"(?:put|place)\s+(?:a\s+)?(?:freeze|block|hold|stop)\s+on\s+(?:my|the)\s+"
    r"(?:whole\s+|entire\s+|bank\s+|debit\s+|credit\s+)*(?:account|card)",
)
# The customer's own live data ("has my rent gone out yet?", "how much do I still owe?"): the
# teller cannot see the account, so a line it cannot answer from the knowledge goes to a person.
_HOW_TO = re.compile(r"^\s*(?:how\s+(?:do|can|could|would|should)\s+i|where\s+(?:do|can|could)\s+i)\b", re.I)
_OWN_DATA = _any(
    r"(?:what'?s|what\s+is|what\s+are|tell\s+me|check|show\s+me|give\s+me|pull\s+up|list|find|send\s+me|"
    r"email\s+me|post\s+me|read\s+me)\s+(?:\w+\s+){0,3}my\b",
    r"(?:has|have|did|was|were|is|are)\s+(?:my|the)\s+(?:\w+\s+){0,4}(?:yet|today|this\s+month|last\s+week|"
    r"right\s+now|at\s+the\s+moment|gone\s+(?:out|in|through)|go\s+(?:out|in|through)|arrived|come\s+in|"
    r"cleared|been\s+paid)",
    r"how\s+much\s+(?:have\s+i|did\s+i|do\s+i\s+(?:still\s+)?(?:owe|have)|is\s+left|more\s+can\s+i|of\s+my|"
    r"credit\s+have\s+i|money\s+have\s+i|can\s+i\s+still)",
    r"which\s+\w+(?:\s+\w+)?\s+do\s+i\s+have",
    r"do\s+i\s+have\s+(?:any|enough)",
    r"(?:was|were)\s+i\s+(?:charged|paid|refunded)",
    r"when\s+is\s+my\s+next",
)
_NEGATIVE = _any(
    r"angry",
    r"furious",
    r"fed\s+up",
    r"disgusted",
    r"useless",
    r"pathetic",
    r"hate\s+(?:this|you)",
    r"sick\s+of",
    r"waste\s+of\s+time",
)
_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|good\s+(?:morning|afternoon|evening)|hiya|greetings)\b[\s!.,]*(?:there)?[\s!.,]*$",
    re.IGNORECASE,
)
_THANKS = re.compile(
    r"^\s*(?:thanks?(?:\s+you)?|thank\s+you(?:\s+very\s+much)?|cheers|great|perfect|ok(?:ay)?|bye|goodbye)"
    r"\b[\s!.,]*(?:that'?s\s+all|bye|so\s+much)?[\s!.,]*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Signals:
    wants_human: bool = False
    complaint: bool = False
    urgent: bool = False
    security: bool = False  # act on the account's security: freeze, block, unlock
    own_data: bool = False  # asks for the customer's own live data (balance, payments, what is owed)
    negative: bool = False
    greeting: bool = False
    thanks: bool = False

    @property
    def escalate(self) -> bool:
        return self.wants_human or self.complaint or self.urgent or self.security


def read_signals(text: str) -> Signals:
    return Signals(
        wants_human=bool(_HUMAN.search(text)),
        complaint=bool(_COMPLAINT.search(text)),
        urgent=bool(_URGENT.search(text)),
        security=bool(_SECURITY.search(text)),
        own_data=bool(_OWN_DATA.search(text)) and not _HOW_TO.search(text),
        negative=bool(_NEGATIVE.search(text)),
        greeting=bool(_GREETING.match(text)),
        thanks=bool(_THANKS.match(text)),
    )
