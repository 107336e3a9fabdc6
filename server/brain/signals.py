"""Wording that decides a turn before retrieval does: a person asked for, a complaint,
urgent fraud, small talk."""

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
    negative: bool = False
    greeting: bool = False
    thanks: bool = False

    @property
    def escalate(self) -> bool:
        return self.wants_human or self.complaint or self.urgent


def read_signals(text: str) -> Signals:
    return Signals(
        wants_human=bool(_HUMAN.search(text)),
        complaint=bool(_COMPLAINT.search(text)),
        urgent=bool(_URGENT.search(text)),
        negative=bool(_NEGATIVE.search(text)),
        greeting=bool(_GREETING.match(text)),
        thanks=bool(_THANKS.match(text)),
    )
