"""Keyword-anchored PII: card security code, expiry date, PIN and date of birth.

These values are short numbers (or dates) that look like any other number, so they
are masked only next to their keyword: "CVV 123", "security code is one two three",
"expiry 09/27", "expires September twenty twenty seven", "PIN: 4321", "date of birth
12 March 1980", "born on the twelfth of March nineteen eighty"; for the security code
and the PIN also before it ("123 is my CVV"). Numbers may be numerals or spoken
(``server.brain.pii_words``). Runs on lower-cased text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from server.brain.pii_kinds import PiiKind
from server.brain.pii_words import WORD_RE, spoken_digits

__all__ = ["keyword_spans"]

_CVV = (
    r"cvv2?|cvc2?|cv2|csc|security\s+(?:code|number|digits)|card\s+verification\s+(?:value|code|number)"
    r"|(?:three|four|3|4)[\s-]digit\s+(?:security\s+)?(?:code|number)|(?:code|number|digits)\s+on\s+the\s+back"
)
_EXP = r"expiry|expiration|expires?|exp|valid\s+(?:thru|through|until|till|to|from)|end\s+date"
_PIN = r"pin|passcode|pass\s+code"
_DOB = r"date\s+of\s+birth|dob|d\.o\.b|birth\s*date|birthday|born"
_KW_RE = re.compile(
    rf"(?<![a-z0-9])(?:(?P<cvv>{_CVV})|(?P<exp>{_EXP})|(?P<pin>{_PIN})|(?P<dob>{_DOB}))(?![a-z])\.?"
)
_FILL_RE = re.compile(
    r"(?:[\s:#=,.\-–']|(?:is|it'?s|its|it|was|my|the|number|no|num|code|codes|date|of|on|in|are|be|will"
    r"|would|that'?s|that|just|then|uh|um|er|ok|okay|please|card|s|digits|pin|at|end|yes|so)(?![a-z]))*"
)
_WORD = WORD_RE.pattern.removesuffix("(?![a-z])")
_TOKEN = rf"(?:[0-9]+|(?:{_WORD})(?![a-z]))"
_TOKEN_RE = re.compile(_TOKEN)
_SEP = r"(?:[ \t]*[,./\-–][ \t]*|[ \t\n]+)"
_VALUE_RE = re.compile(rf"{_TOKEN}(?:{_SEP}{_TOKEN})*")
_BEFORE_RE = re.compile(
    rf"(?P<v>{_TOKEN}(?:{_SEP}{_TOKEN})*)[ \t,]*(?:(?:is|was|are|=)[ \t]+)?(?:my|the|your)?[ \t]*$"
)
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?![a-z])\.?"
)
_ORD = (
    r"(?:(?:twenty|thirty)[ -])?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)"
    r"|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth"
    r"|nineteenth|twentieth|thirtieth"
)
_DAY = rf"(?:the[ \t]+)?(?:[0-9]{{1,2}}(?:st|nd|rd|th)?|{_ORD})(?![a-z0-9])"
_NUMW = rf"(?:(?:{_WORD})(?![a-z])|hundred|thousand)"
_YEAR = rf"(?:[0-9]{{2,4}}(?![0-9])|{_NUMW}(?:[ \t-]+(?:and[ \t]+)?{_NUMW}){{0,5}})"
_DATE_RE = re.compile(
    rf"(?:{_DAY}(?:[ \t]+of)?[ \t]+{_MONTH}(?:,?[ \t]+{_YEAR})?|{_MONTH}[ \t]+{_DAY}(?:,?[ \t]+{_YEAR})?"
    rf"|{_MONTH}[ \t]*[,/-]?[ \t]*{_YEAR})"
)
# kind, fewest and most digits of a numeric value, whether a date in words counts
_RULES: dict[str, tuple[PiiKind, int, int, bool]] = {
    "cvv": (PiiKind.SECURITY_CODE, 3, 4, False),
    "exp": (PiiKind.EXPIRY, 3, 6, True),
    "pin": (PiiKind.PIN, 4, 6, False),
    "dob": (PiiKind.DATE_OF_BIRTH, 4, 8, True),
}
_MAX_FILL = 32
# One of these is in every keyword: most lines are skipped without running _KW_RE.
_HINTS: tuple[str, ...] = ("cv", "csc", "secur", "verif", "digit", "back", "exp", "valid", "end", "pin")
_HINTS += ("pass", "birth", "dob", "d.o.b", "born")


def _digits(tokens: list[str]) -> int:
    return sum(len(t) for t in tokens if t[0].isdigit()) + len(
        spoken_digits([t for t in tokens if not t[0].isdigit()])
    )


def _value_end(low: str, start: int, end: int, lo: int, hi: int, *, from_left: bool) -> int | None:
    """End (or start, ``from_left=False``) of the longest run of whole tokens in ``low[start:end]``,
    taken from its left (or right) edge, holding ``lo``..``hi`` digits."""
    toks = [(m.start(), m.end(), m.group()) for m in _TOKEN_RE.finditer(low, start, end)]
    if not from_left:
        toks.reverse()
    best = None
    for i in range(len(toks)):
        n = _digits([t[2] for t in toks[: i + 1]])
        if n > hi:
            break
        if n >= lo:
            best = toks[i][1] if from_left else toks[i][0]
    return best


def keyword_spans(low: str) -> Iterator[tuple[PiiKind, int, int]]:
    """Values after (or, for a security code or PIN, before) their keyword."""
    if not any(h in low for h in _HINTS):
        return
    for m in _KW_RE.finditer(low):
        name = m.lastgroup or ""
        kind, lo, hi, dates = _RULES[name]
        fill = _FILL_RE.match(low, m.end())
        pos = fill.end() if fill and fill.end() - m.end() <= _MAX_FILL else m.end()
        if pos == m.end() and pos < len(low) and low[pos].isalnum():
            pos = -1
        if pos >= 0:
            if (
                dates
                and (dm := _DATE_RE.match(low, pos))
                and (not dm.group()[0].isdigit() or " " in dm.group())
            ):
                yield kind, pos, dm.end()
                continue
            if vm := _VALUE_RE.match(low, pos):
                end = _value_end(low, pos, vm.end(), lo, hi, from_left=True)
                if end is not None:
                    yield kind, pos, end
                    continue
        if name in ("cvv", "pin") and (bm := _BEFORE_RE.search(low, max(0, m.start() - 48), m.start())):
            start = _value_end(low, bm.start("v"), bm.end("v"), lo, hi, from_left=False)
            if start is not None:
                yield kind, start, bm.end("v")
