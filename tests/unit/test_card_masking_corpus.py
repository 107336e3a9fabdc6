"""Card data in clear (issue #18, PCI DSS 3.3/3.4): a generated corpus of sensitive variants and controls.

Over 10,000 variants (fixed seed): card numbers of 12-19 digits, Luhn-valid or not, written
with every separator (spaces, dashes, newlines, commas, dots, slashes, mixed), in full-width
digits, run into letters, spoken (digits, "oh", "double"/"triple", "forty one eleven"),
split across two customer turns (``server.turn_digits``), and security codes, expiry dates,
PINs and dates of birth next to their keywords. Every sensitive digit must be masked. Over
2,000 controls (amounts, dates and times, references under 12 digits, sort codes, counts,
keywords without values) may be altered at most 1% of the time.
"""

from __future__ import annotations

import random
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from server.brain.pii import mask_pii
from server.brain.pii_kinds import PLACEHOLDER_RE
from server.brain.pii_words import WORD_DIGITS, spoken_digits
from server.turn_digits import PendingDigits

SEED = 1803
UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"]
TEENS += ["eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September"]
MONTHS += ["October", "November", "December"]
ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"]
ORDINALS += ["eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "twentieth", "twenty first"]

# Sentences around a value; none carries a digit or a number word of its own except where noted.
CARD_TEMPLATES = [
    "My card number is {}",
    "{}",
    "it's {} thanks",
    "Card: {}.",
    "the long number on the front is {}, can you block it?",
    "please check {} for me",
    "ok so {} yes",
    "I paid £1,250.00 on 12/03/2024 with {} and it failed",  # its own numbers must survive
    "Hi, it's {} — thanks",
]
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@dataclass(frozen=True)
class Case:
    turns: tuple[str, ...]  # the customer's turns (one, or a number split across two)
    expect_digits: str  # the digits the masked turns may still show (the template's own)
    label: str


# ------------------------------------------------------------------ generators


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        v = int(ch) * (2 if i % 2 == 0 else 1)
        total += v - 9 if v > 9 else v
    return str((10 - total % 10) % 10)


def card_number(rng: random.Random) -> str:
    n = rng.randint(12, 19)
    body = rng.choice("123456789") + "".join(rng.choice("0123456789") for _ in range(n - 2))
    last = luhn_digit(body) if rng.random() < 0.5 else rng.choice("0123456789")
    return body + last


def groups(d: str, rng: random.Random) -> list[str]:
    size = rng.choice([4, 4, 4, 3, 5])
    return [d[i : i + size] for i in range(0, len(d), size)]


def say_digit(ch: str, rng: random.Random) -> str:
    return rng.choice(["oh", "zero", "oh", "nought"]) if ch == "0" else UNITS[int(ch)]


def say_digits(d: str, rng: random.Random, *, multipliers: bool = False) -> str:
    out: list[str] = []
    i = 0
    while i < len(d):
        run = 1
        while i + run < len(d) and d[i + run] == d[i] and run < 3:
            run += 1
        if multipliers and run >= 2 and rng.random() < 0.7:
            out.append(("double " if run == 2 else "triple ") + say_digit(d[i], rng))
            i += run
        else:
            out.append(say_digit(d[i], rng))
            i += 1
    return " ".join(out)


def say_pairs(d: str, rng: random.Random, hyphen: bool = False) -> str:
    """ "forty one eleven": two digits at a time, as people read card numbers aloud."""
    words: list[str] = []
    i = 0
    while i < len(d):
        pair = d[i : i + 2]
        nxt = d[i + 2 : i + 3]
        if len(pair) == 1:
            words.append(say_digit(pair, rng))
        elif pair[0] == "0":
            words.append(f"{say_digit('0', rng)} {UNITS[int(pair[1])]}")
        elif pair[0] == "1":
            words.append(TEENS[int(pair[1])])
        elif pair[1] == "0":  # "twenty" then a lone unit would read as twenty-three
            words.append(TENS[int(pair[0])] if len(d) - i != 3 else f"{UNITS[int(pair[0])]} oh")
        else:
            words.append(f"{TENS[int(pair[0])]}{'-' if hyphen else ' '}{UNITS[int(pair[1])]}")
        i += 2
        del nxt
    return " ".join(words)


def written_card(d: str, rng: random.Random, style: int) -> str:
    g = groups(d, rng)
    seps = [" ", "-", "\n", ",", ", ", ".", ". ", "/", " / ", " - ", "  ", "\r\n"]
    if style == 0:
        return d
    if style <= len(seps):
        return seps[style - 1].join(g)
    if style == len(seps) + 1:  # mixed separators
        return "".join(
            grp + (rng.choice([" ", "-", " - "]) if k < len(g) - 1 else "") for k, grp in enumerate(g)
        )
    if style == len(seps) + 2:  # full-width digits
        return rng.choice([" ", "\u3000", ""]).join(g).translate(FULLWIDTH)
    if style == len(seps) + 3:  # run into letters
        return rng.choice(["card{}", "{}please", "no{}", "x{}y", "#{}", "CARD:{}END"]).format(d)
    return "".join(grp + ("" if k == len(g) - 1 else " ") for k, grp in enumerate(g)).upper()


def spoken_card(d: str, rng: random.Random, style: int) -> str:
    if style == 0:
        return say_digits(d, rng)
    if style == 1:
        return say_digits(d, rng, multipliers=True)
    if style == 2:
        return ", ".join(say_digits(g, rng) for g in groups(d, rng))
    if style == 3:
        return say_pairs(d, rng)
    if style == 4:
        return say_pairs(d, rng, hyphen=True).title()
    if style == 5:
        g = groups(d, rng)
        return g[0] + " " + say_digits("".join(g[1:]), rng)
    return ", ".join(say_pairs(g, rng) for g in [d[i : i + 4] for i in range(0, len(d), 4)])


def digits_of(text: str) -> str:
    """Every digit a reader can get back: numerals (any script) and number words."""
    text = PLACEHOLDER_RE.sub(" ", text)
    text = "".join(
        str(unicodedata.decimal(c)) if unicodedata.decimal(c, None) is not None else c for c in text
    )
    out: list[str] = []
    words: list[str] = []
    for tok in re.findall(r"[0-9]+|[A-Za-z]+", text):
        if tok.isdigit():
            out.append(spoken_digits(words))
            words = []
            out.append(tok)
        elif tok.lower() in WORD_DIGITS or tok.lower() in ("double", "triple"):
            words.append(tok.lower())
        else:
            out.append(spoken_digits(words))
            words = []
    out.append(spoken_digits(words))
    return "".join(out)


def card_cases(rng: random.Random, count: int) -> list[Case]:
    out = []
    for i in range(count):
        d = card_number(rng)
        template = rng.choice(CARD_TEMPLATES)
        own = digits_of(template.format(""))
        if i % 2 == 0:
            text, label = written_card(d, rng, (i // 2) % 16), f"written/{(i // 2) % 16}"
        else:
            text, label = spoken_card(d, rng, (i // 2) % 7), f"spoken/{(i // 2) % 7}"
        out.append(Case((template.format(text),), own, label))
    return out


def split_cases(rng: random.Random, count: int) -> list[Case]:
    """One number over two turns: each half is too short to be a card on its own."""
    out = []
    for i in range(count):
        d = card_number(rng)
        cut = rng.randint(max(4, len(d) - 11), min(11, len(d) - 4))
        head, tail = d[:cut], d[cut:]
        if i % 3 == 0:
            first, second = " ".join(groups(head, rng)), " ".join(groups(tail, rng))
        elif i % 3 == 1:
            first, second = say_digits(head, rng), say_digits(tail, rng)
        else:
            first, second = "-".join(groups(head, rng)), say_digits(tail, rng)
        end = rng.choice(["", ".", "...", ","])
        opener = rng.choice(["My card number is {}", "it's {}", "{}", "the card is {}"])
        closer = rng.choice(["{}", "{}.", "{} that's it", "{} thanks"])
        out.append(Case((opener.format(first) + end, closer.format(second)), "", f"split/{i % 3}"))
    return out


def keyword_cases(rng: random.Random, count: int) -> list[Case]:
    def cvv() -> tuple[str, str, str]:
        v = "".join(rng.choice("0123456789") for _ in range(rng.choice([3, 3, 4])))
        value = v if rng.random() < 0.6 else say_digits(v, rng)
        kw = rng.choice(["CVV", "cvc", "CV2", "security code", "three digit code", "card verification code"])
        return (
            rng.choice(
                [
                    f"the {kw} is {value}",
                    f"{kw}: {value}",
                    f"my {kw} {value}",
                    f"{value} is the {kw}",
                    f"{kw} - {value}",
                ]
            ),
            value,
            "cvv",
        )

    def expiry() -> tuple[str, str, str]:
        m, y = rng.randint(1, 12), rng.randint(24, 35)
        value = rng.choice(
            [
                f"{m:02d}/{y}",
                f"{m:02d}/20{y}",
                f"{m:02d}-{y}",
                f"{m:02d} {y}",
                f"{MONTHS[m - 1]} 20{y}",
                f"{MONTHS[m - 1][:3]} {y}",
                f"{say_digits(f'{m:02d}', rng)} {say_pairs(str(y), rng)}",
                f"{MONTHS[m - 1]} twenty {say_pairs(str(y), rng)}",
            ]
        )
        kw = rng.choice(
            ["expiry", "expiry date", "expires", "exp", "valid thru", "expiration date", "it expires"]
        )
        return (
            rng.choice(
                [f"{kw} {value}", f"the {kw} is {value}", f"{kw}: {value}", f"and {kw} is {value} ok"]
            ),
            value,
            "exp",
        )

    def pin() -> tuple[str, str, str]:
        v = "".join(rng.choice("0123456789") for _ in range(rng.choice([4, 4, 4, 5, 6])))
        value = v if rng.random() < 0.6 else rng.choice([say_digits(v, rng), " ".join(v)])
        kw = rng.choice(["PIN", "pin number", "pin code", "passcode"])
        return (
            rng.choice([f"my {kw} is {value}", f"{kw}: {value}", f"{value} is my {kw}", f"the {kw} {value}"]),
            value,
            "pin",
        )

    def dob() -> tuple[str, str, str]:
        d, m, y = rng.randint(1, 28), rng.randint(1, 12), rng.randint(1940, 2008)
        value = rng.choice(
            [
                f"{d:02d}/{m:02d}/{y}",
                f"{d}/{m}/{y}",
                f"{y}-{m:02d}-{d:02d}",
                f"{d:02d}.{m:02d}.{y}",
                f"{d} {MONTHS[m - 1]} {y}",
                f"{MONTHS[m - 1]} {d}, {y}",
                f"{d}th of {MONTHS[m - 1]} {y}",
                f"the {ORDINALS[min(d, 14) - 1]} of {MONTHS[m - 1]} {say_pairs(str(y), rng)}",
                f"{say_digits(f'{d:02d}{m:02d}', rng)} {say_pairs(str(y), rng)}",
            ]
        )
        kw = rng.choice(["date of birth", "DOB", "born on", "birthday", "d.o.b.", "birth date"])
        return (
            rng.choice([f"my {kw} is {value}", f"{kw}: {value}", f"{kw} {value}", f"I was {kw} {value}"]),
            value,
            "dob",
        )

    makers: list[Callable[[], tuple[str, str, str]]] = [cvv, expiry, pin, dob]
    out = []
    for i in range(count):
        text, value, label = makers[i % 4]()
        line = rng.choice(["{}", "{}.", "Hi, {} thanks", "ok {} please"]).format(text)
        out.append(Case((line,), digits_of(line.replace(value, " ")), f"keyword/{label}"))  # "CV2" stays
    return out


def controls(rng: random.Random, count: int) -> list[str]:
    def amount() -> str:
        whole = rng.randint(1, 999_999)
        return rng.choice(
            [
                f"£{whole:,}.{rng.randint(0, 99):02d}",
                f"${whole:,}",
                f"€{whole % 5000}",
                f"{whole:,} pounds",
                f"£{whole % 1000}",
                f"{whole % 500}.{rng.randint(0, 99):02d} euros",
                "£1,250.00",
            ]
        )

    def date() -> str:
        d, m, y = rng.randint(1, 28), rng.randint(1, 12), rng.randint(1990, 2030)
        return rng.choice(
            [
                f"{d:02d}/{m:02d}/{y}",
                f"{y}-{m:02d}-{d:02d}",
                f"{d:02d}.{m:02d}.{y}",
                f"{d} {MONTHS[m - 1]} {y}",
                f"{MONTHS[m - 1]} {d}, {y}",
                f"{d:02d}-{m:02d}-{y}",
                f"{m}/{d}/{y % 100:02d}",
            ]
        )

    def time_() -> str:
        h, mi = rng.randint(0, 23), rng.randint(0, 59)
        return rng.choice(
            [f"{h:02d}:{mi:02d}", f"{h % 12 + 1}pm", f"{h % 12 + 1}.{mi:02d}am", f"{h}:{mi:02d}:00"]
        )

    def reference() -> str:
        n = rng.randint(4, 9)  # phone-free: 10-11 digits read as phone numbers
        ref = "".join(rng.choice("0123456789") for _ in range(n))
        return rng.choice(
            [
                f"REF-{rng.randint(2000, 2030)}-{rng.randint(0, 9999):04d}",
                f"reference {ref}",
                f"case #{ref}",
                f"ORD-{ref}",
                f"INV/{rng.randint(2000, 2030)}/{ref[:5]}",
                f"ticket {ref}",
                f"AB{ref[:4]}XY",
            ]
        )

    def sort_code() -> str:
        return f"{rng.randint(10, 99)}-{rng.randint(10, 99)}-{rng.randint(10, 99)}"

    def count_() -> str:
        return rng.choice(
            [
                f"{rng.randint(1, 10)} working days",
                f"{rng.randint(2, 5)} cards",
                "top up 20 pounds",
                f"top up {rng.randint(5, 200)} pounds",
                f"{rng.randint(1, 48)} hours",
                f"{rng.randint(0, 99)}%",
                "twenty pounds",
                "three days",
                "in twenty twenty four",
                f"page {rng.randint(1, 9)} of 12",
                "the last four digits",
                f"{rng.randint(1, 30)} transactions",
            ]
        )

    def no_value() -> str:
        return rng.choice(
            [
                "my PIN is blocked",
                "what is a CVV?",
                "when does my card expire?",
                "I forgot my pin 3 times",
                "where is the security code?",
                "the card expires in 2 days",
                "can I change my PIN?",
                "my date of birth is wrong on the app",
                "I was born in London",
                "the expiry date is on the front",
            ]
        )

    makers = [amount, date, time_, reference, sort_code, count_, no_value]
    templates = [
        "I paid {} yesterday.",
        "On {} it failed",
        "Balance: {}",
        "{}",
        "Can you check {} please",
        "The fee was {} which is too much",
        "It took {}, why?",
    ]
    out = [rng.choice(templates).format(makers[i % len(makers)]()) for i in range(count)]
    for _ in range(count // 10):  # several ordinary numbers in one line
        out.append(f"On {date()} at {time_()} I paid {amount()}, {reference()}, it took {count_()}.")
    return out


# ------------------------------------------------------------------ the corpus

RNG = random.Random(SEED)
CASES = card_cases(RNG, 6000) + split_cases(RNG, 2000) + keyword_cases(RNG, 2400)
CONTROLS = controls(RNG, 2200)


def masked_turns(case: Case) -> list[str]:
    """The turns as they end up stored: masked, the earlier one rewritten when a number goes on."""
    pending = PendingDigits()
    stored: dict[int, str] = {}
    for seq, raw in enumerate(case.turns, start=1):
        line = pending.mask(raw)
        for amend in line.amends:
            assert stored[amend.seq] == amend.was
            stored[amend.seq] = amend.text
        stored[seq] = line.text
        pending.stored(line, seq)
    return [stored[n] for n in sorted(stored)]


def test_the_corpus_is_large_and_varied() -> None:
    assert len(CASES) >= 10_000 and len(CONTROLS) >= 2_000
    labels = {c.label.split("/")[0] for c in CASES}
    assert labels == {"written", "spoken", "split", "keyword"}
    assert len({c.label for c in CASES}) >= 16 + 7 + 3 + 4


def test_every_sensitive_digit_is_masked() -> None:
    started = time.perf_counter()
    failures = []
    for case in CASES:
        turns = masked_turns(case)
        left = digits_of(" ".join(turns))
        if left != case.expect_digits:
            failures.append(f"{case.label}: {case.turns!r} -> {turns!r} (left {left!r})")
    elapsed = time.perf_counter() - started
    masked = 1 - len(failures) / len(CASES)
    assert not failures, f"{masked:.2%} masked; {len(failures)} leaks:\n" + "\n".join(failures[:30])
    assert elapsed < 15.0, f"{elapsed:.1f} s for {len(CASES)} cases"  # ~2 s on an idle core


def test_controls_are_left_alone() -> None:
    changed = [f"{text!r} -> {mask_pii(text)!r}" for text in CONTROLS if mask_pii(text) != text]
    rate = len(changed) / len(CONTROLS)
    assert rate <= 0.01, f"{rate:.2%} of {len(CONTROLS)} controls altered:\n" + "\n".join(changed[:30])


def test_the_card_placeholder_keeps_the_last_four_digits() -> None:
    rng = random.Random(SEED + 1)
    for _ in range(500):
        d = card_number(rng)
        assert mask_pii(f"card {' '.join(groups(d, rng))} please") == f"card [card ending {d[-4:]}] please"
