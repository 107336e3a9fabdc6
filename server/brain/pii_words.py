"""Spoken numbers as digits: "four one one one", "oh", "double four", "forty one eleven".

A word is a unit (zero/oh/o/nought/nil, one..nine: one digit), a teen (ten..nineteen:
two digits), a tens word (twenty..ninety: two digits, or one when a unit follows, as in
"forty one" = 41), a multiplier (double/triple: repeats the next single digit) or "plus"
(a phone prefix). ``WORD_RE`` finds them in lower-cased text.
"""

from __future__ import annotations

import re

__all__ = ["MULT", "TENS", "WORD_DIGITS", "WORD_RE", "spoken_digits"]

_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"]
_TEENS += ["eighteen", "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]

#: Digits each number word stands for on its own.
WORD_DIGITS: dict[str, str] = {w: str(i) for i, w in enumerate(_UNITS)}
WORD_DIGITS |= dict.fromkeys(["oh", "o", "nought", "nil"], "0")
WORD_DIGITS |= {w: str(10 + i) for i, w in enumerate(_TEENS)}
WORD_DIGITS |= {w: str(20 + 10 * i) for i, w in enumerate(_TENS)}
#: Tens words, which take a following unit ("forty one" = 41).
TENS = frozenset(_TENS)
MULT = {"double": 2, "triple": 3}

# Run on lower-cased text; the trie order lets sre skip on the first character.
WORD_RE = re.compile(
    r"\b(?:z(?:ero)|o(?:h|ne)?|n(?:ought|il|ine(?:teen|ty)?)"
    r"|t(?:wo|h(?:ree|irt(?:een|y))|riple|en|w(?:elve|enty))"
    r"|f(?:our(?:teen)?|orty|i(?:ve|ft(?:een|y)))|s(?:ix|even)(?:teen|ty)?"
    r"|e(?:ight(?:een|y)?|leven)|double|plus)(?![a-z])"
)


def spoken_digits(words: list[str]) -> str:
    """The digits of consecutive number words (units, teens, tens, double/triple)."""
    out: list[str] = []
    mult = 1
    tens = False
    for w in words:
        if w in MULT:
            mult, tens = MULT[w], False
            continue
        d = WORD_DIGITS.get(w)
        if d is None:
            mult, tens = 1, False
            continue
        if tens and len(d) == 1 and d != "0":
            out[-1] = out[-1][0] + d
            tens = False
            continue
        out.append(d * mult if len(d) == 1 else d)
        mult, tens = 1, w in TENS
    return "".join(out)
