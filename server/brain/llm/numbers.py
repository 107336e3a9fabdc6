"""Numbers, amounts, percentages, dates and durations in text, as comparable facts.

A fact is ``(kind, value)``: kind is ``money`` (a currency sign or word next to the
number), ``percent``, ``month``/``weekday`` (a named date part) or ``number``
(anything else, durations included: "3 to 5 working days" gives 3 and 5).
Values are normalised ("1,000.00" -> "1000", "five" -> "5"), so the same fact
written two ways compares equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    "hundred": 100, "thousand": 1000, "million": 1_000_000, "half": 0.5, "twice": 2,
    "third": 3, "fourth": 4, "fifth": 5, "tenth": 10,
}  # fmt: skip
_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
]
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_CURRENCY_SIGN = "£$€¥₹"
_CURRENCY_WORD = r"(?:pounds?|pence|p|dollars?|euros?|cents?|gbp|usd|eur|quid)"
_NUM = r"[0-9]+(?:[.,][0-9]+)*(?:st|nd|rd|th)?"
_WORD_ALT = "|".join(sorted(_WORDS, key=len, reverse=True))
_TOKEN_RE = re.compile(
    rf"(?P<sign>[{_CURRENCY_SIGN}]\s?)?(?P<num>{_NUM})(?P<suffix>\s?%|\s?(?:per\s?cent|percent)\b"
    rf"|\s?{_CURRENCY_WORD}\b|k\b)?"
    rf"|\b(?P<word>{_WORD_ALT})\b(?P<wsuffix>\s(?:per\s?cent|percent)\b|\s{_CURRENCY_WORD}\b)?",
    re.IGNORECASE,
)
_NAMED_RE = re.compile(r"\b(" + "|".join(_MONTHS + _WEEKDAYS) + r")\b", re.IGNORECASE)
_MAY_VERB = re.compile(r"\bmay\s+(?:be|have|not|take|need|ask|apply|also|still|charge|vary|want)\b", re.I)


@dataclass(frozen=True, slots=True)
class Fact:
    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def _norm(raw: str) -> str:
    raw = re.sub(r"(?:st|nd|rd|th)$", "", raw.lower())
    if re.fullmatch(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?", raw):
        raw = raw.replace(",", "")
    raw = raw.replace(",", ".")
    try:
        value = float(raw)
    except ValueError:
        return raw
    return f"{value:g}" if value != int(value) else str(int(value))


def _kind(sign: str | None, suffix: str | None) -> str:
    suffix = (suffix or "").strip().lower()
    if "%" in suffix or ("cent" in suffix and "per" in suffix):
        return "percent"
    if sign or (suffix and suffix != "k"):
        return "money"
    return "number"


def mentions(text: str) -> list[tuple[Fact, str]]:
    """Every numeric or date fact in ``text`` with the text it was read from."""
    found: list[tuple[int, Fact, str]] = []
    for m in _TOKEN_RE.finditer(text):
        if m.group("num"):
            value = _norm(m.group("num"))
            if (m.group("suffix") or "").strip().lower() == "k":
                value = _norm(str(float(value) * 1000)) if value.replace(".", "").isdigit() else value
            fact = Fact(_kind(m.group("sign"), m.group("suffix")), value)
        else:
            word = _WORDS[m.group("word").lower()]
            fact = Fact(_kind(None, m.group("wsuffix")), _norm(str(word)))
        found.append((m.start(), fact, m.group().strip()))
    for m in _NAMED_RE.finditer(text):
        name = m.group(1).lower()
        if name == "may" and _MAY_VERB.match(text, m.start()):
            continue
        if name in _MONTHS[12:]:
            name = next(full for full in _MONTHS if full.startswith(name[:3]))
        found.append((m.start(), Fact("weekday" if name in _WEEKDAYS else "month", name), m.group()))
    return [(fact, surface) for _, fact, surface in sorted(found, key=lambda f: f[0])]


def facts(text: str) -> list[Fact]:
    """Every numeric or date fact in ``text``, in order of appearance."""
    return [fact for fact, _ in mentions(text)]


def supported(fact: Fact, source: set[Fact]) -> bool:
    """A money or percent fact needs the same kind in ``source``; a bare number any kind."""
    if fact in source:
        return True
    if fact.kind == "number":
        return any(s.value == fact.value for s in source)
    return False


def unsupported(text: str, source_text: str) -> list[Fact]:
    """Facts of ``text`` that ``source_text`` does not contain."""
    source = set(facts(source_text))
    return [f for f in facts(text) if not supported(f, source)]
