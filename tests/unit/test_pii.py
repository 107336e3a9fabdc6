"""Tests for server.brain.pii: generated PII variants must be masked, ordinary numbers must not.

The keyword-anchored kinds (security code, expiry, PIN, date of birth) and the card
rules' wider corpus are in ``test_card_masking_corpus.py``."""

from __future__ import annotations

import dataclasses
import random
import re
import string
from typing import NamedTuple

import pytest

from server.brain.pii import PLACEHOLDERS, PiiKind, PiiSpan, contains_pii, find_pii, mask_pii

SEED = 20240312
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


class Variant(NamedTuple):
    pii: str  # the exact substring find_pii must report
    kind: PiiKind
    masked: str  # what mask_pii must put in its place
    digits: str  # the digits carried by the PII (for the "no 7-digit run survives" check)


# ---------------------------------------------------------------- generators


def luhn_check_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        v = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            v = v * 2 - 9 if v > 4 else v * 2
        total += v
    return str((10 - total % 10) % 10)


def luhn_valid(d: str) -> bool:
    return luhn_check_digit(d[:-1]) == d[-1]


CARD_SPECS: list[tuple[list[str], list[int]]] = [
    (["4"], [13, 16, 19]),  # Visa
    (["51", "52", "53", "54", "55", "2221", "2500", "2720"], [16]),  # Mastercard
    (["34", "37"], [15]),  # Amex
    (["6011", "65", "644", "649"], [16]),  # Discover
    (["50", "56", "58", "6759", "6304"], [13, 15, 16, 17, 18, 19]),  # Maestro
]


def gen_card(rng: random.Random) -> str:
    prefixes, lengths = rng.choice(CARD_SPECS)
    prefix, length = rng.choice(prefixes), rng.choice(lengths)
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return body + luhn_check_digit(body)


def card_groups(d: str) -> list[str]:
    sizes = {15: [4, 6, 5], 13: [4, 4, 5], 17: [4, 4, 4, 5], 19: [4, 4, 4, 4, 3]}.get(len(d))
    if sizes is None:
        sizes = [4] * (len(d) // 4) + ([len(d) % 4] if len(d) % 4 else [])
    out, i = [], 0
    for n in sizes:
        out.append(d[i : i + n])
        i += n
    return out


def spell(d: str, rng: random.Random, use_multipliers: bool = False) -> str:
    """Spoken digits: "oh"/"zero" for 0 and, optionally, "double"/"triple" for repeats."""
    out: list[str] = []
    i = 0
    while i < len(d):
        run = 1
        while i + run < len(d) and d[i + run] == d[i] and run < 3:
            run += 1
        word = rng.choice(["oh", "zero"]) if d[i] == "0" else WORDS[int(d[i])]
        if use_multipliers and run >= 2 and rng.random() < 0.7:
            out.append(("double " if run == 2 else "triple ") + word)
            i += run
        else:
            out.append(word)
            i += 1
    return " ".join(out)


def card_variants(rng: random.Random, count: int) -> list[Variant]:
    formats = ["plain", "spaced", "dashed", "spelled", "spelled_commas", "mixed", "multipliers"]
    out = []
    for i in range(count):
        d = gen_card(rng)
        groups = card_groups(d)
        fmt = formats[i % len(formats)]
        if fmt == "plain":
            text = d
        elif fmt in ("spaced", "dashed"):
            text = (" " if fmt == "spaced" else "-").join(groups)
        elif fmt == "spelled":
            text = spell(d, rng)
        elif fmt == "spelled_commas":
            text = ", ".join(spell(g, rng) for g in groups)
        elif fmt == "mixed":
            text = groups[0] + " " + spell("".join(groups[1:]), rng)
        else:
            text = spell(d, rng, use_multipliers=True)
        out.append(Variant(text, PiiKind.CARD, f"[card ending {d[-4:]}]", d))
    return out


def rdigits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def nanp(rng: random.Random) -> tuple[str, str, str]:
    return str(rng.randint(2, 9)) + rdigits(rng, 2), str(rng.randint(2, 9)) + rdigits(rng, 2), rdigits(rng, 4)


def phone_variants(rng: random.Random, count: int) -> list[Variant]:
    def uk_mobile() -> tuple[str, str]:
        m = "7" + rdigits(rng, 3)
        rest = rdigits(rng, 6)
        d = "0" + m + rest
        return rng.choice(
            [
                f"0{m} {rest}",
                f"0{m}{rest}",
                f"0{m} {rest[:3]} {rest[3:]}",
                f"+44 {m} {rest}",
                f"+44 (0){m} {rest}",
                f"0044 {m} {rest}",
                f"+44{m}{rest}",
            ]
        ), d

    def uk_landline() -> tuple[str, str]:
        a, b = rdigits(rng, 4), rdigits(rng, 4)
        c, e = rdigits(rng, 3), rdigits(rng, 4)
        return rng.choice(
            [
                (f"020 {a} {b}", f"020{a}{b}"),
                (f"(020) {a} {b}", f"020{a}{b}"),
                (f"+44 20 {a} {b}", f"4420{a}{b}"),
                (f"0161 {c} {e}", f"0161{c}{e}"),
                (f"020-{a}-{b}", f"020{a}{b}"),
            ]
        )

    def us() -> tuple[str, str]:
        a, x, n = nanp(rng)
        return rng.choice(
            [
                f"+1 {a}-{x}-{n}",
                f"({a}) {x}-{n}",
                f"{a}.{x}.{n}",
                f"{a}-{x}-{n}",
                f"{a} {x} {n}",
                f"1-{a}-{x}-{n}",
                f"+1 ({a}) {x}-{n}",
                f"{a}{x}{n}",
            ]
        ), a + x + n

    def intl() -> tuple[str, str]:
        de, fr, ie, au = rdigits(rng, rng.randint(6, 8)), rdigits(rng, 8), rdigits(rng, 7), rdigits(rng, 8)
        return rng.choice(
            [
                (f"+49 30 {de}", f"4930{de}"),
                (f"+33 1 {fr[:2]} {fr[2:4]} {fr[4:6]} {fr[6:]}", f"331{fr}"),
                (f"+353 1 {ie[:3]} {ie[3:]}", f"3531{ie}"),
                (f"+61 2 {au[:4]} {au[4:]}", f"612{au}"),
            ]
        )

    def spoken() -> tuple[str, str]:
        d = "07" + rdigits(rng, 9) if rng.random() < 0.5 else "".join(nanp(rng))
        text = spell(d, rng, use_multipliers=rng.random() < 0.5)
        if rng.random() < 0.2 and d.startswith("0"):
            return "plus four four " + spell(d[1:], rng), "44" + d[1:]
        return text, d

    makers = [uk_mobile, uk_landline, us, intl, spoken]
    out = []
    for i in range(count):
        text, d = makers[i % len(makers)]()
        out.append(Variant(text, PiiKind.PHONE, "[phone]", d))
    return out


NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"
NINO_BAD = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}


def id_variants(rng: random.Random, count: int) -> list[Variant]:
    out = []
    for i in range(count):
        which = i % 3
        if which == 0:  # UK National Insurance number
            while (pre := rng.choice(NINO_FIRST) + rng.choice(NINO_SECOND)) in NINO_BAD:
                pass
            d, suf = rdigits(rng, 6), rng.choice("ABCD")
            text = rng.choice([f"{pre}{d}{suf}", f"{pre} {d[:2]} {d[2:4]} {d[4:]} {suf}"])
            text = text.lower() if rng.random() < 0.2 else text
            out.append(Variant(text, PiiKind.NATIONAL_ID, "[id number]", d))
        elif which == 1:  # US SSN
            area = rng.choice([a for a in range(1, 900) if a != 666])
            d = f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
            sep = rng.choice("- ")
            out.append(Variant(f"{d[:3]}{sep}{d[3:5]}{sep}{d[5:]}", PiiKind.NATIONAL_ID, "[id number]", d))
        else:  # keyword + value: the span is the value only
            d = rdigits(rng, rng.randint(7, 10))
            value = rng.choice([rng.choice(string.ascii_uppercase) + d, d])
            out.append(Variant(value, PiiKind.NATIONAL_ID, "[id number]", d))
    return out


ID_KEYWORDS = [
    "passport number ",
    "ID number ",
    "passport no. ",
    "identity card number: ",
    "driving licence number ",
    "Passport number is ",
]

FIRST = ["john", "jane", "ali", "mei", "olu", "sam", "priya", "tom", "zoe", "liam"]
LAST = ["smith", "doe", "khan", "wong", "adeyemi", "patel", "brown", "garcia"]
DOMAINS = [
    ("gmail", "com"),
    ("outlook", "com"),
    ("example", "co.uk"),
    ("bank-mail", "org"),
    ("yahoo", "co.uk"),
    ("proton", "me"),
]


def email_variants(rng: random.Random, count: int) -> list[Variant]:
    out = []
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        host, tld = rng.choice(DOMAINS)
        num = str(rng.randint(1, 99)) if rng.random() < 0.4 else ""
        if i % 2 == 0:
            local = rng.choice([f"{first}.{last}{num}", f"{first}_{last}", f"{first}+bank{num}", first + num])
            text = f"{local}@{host}.{tld}"
            text = text.upper() if rng.random() < 0.1 else text
        else:
            sep = rng.choice([" dot ", " underscore ", " dot "])
            spoken_tld = " dot ".join(tld.split("."))
            text = f"{first}{sep}{last}{num} at {host} dot {spoken_tld}"
        out.append(Variant(text, PiiKind.EMAIL, "[email]", re.sub(r"\D", "", text)))
    return out


def iban_gb(rng: random.Random) -> str:
    bban = rng.choice(["WEST", "NWBK", "BARC", "HBUK"]) + rdigits(rng, 14)
    numeric = "".join(str(int(c, 36)) for c in bban + "GB00")
    return f"GB{98 - int(numeric) % 97:02d}{bban}"


def account_variants(rng: random.Random, count: int) -> list[Variant]:
    out = []
    for i in range(count):
        if i % 2 == 0:
            iban = iban_gb(rng)
            text = iban if rng.random() < 0.5 else " ".join(iban[j : j + 4] for j in range(0, len(iban), 4))
            out.append(Variant(text, PiiKind.ACCOUNT, "[account]", re.sub(r"\D", "", iban)))
        else:
            sc, acct = rdigits(rng, 6), rdigits(rng, 8)
            text = f"{sc[:2]}-{sc[2:4]}-{sc[4:]} {acct}"
            out.append(Variant(text, PiiKind.ACCOUNT, "[account]", sc + acct))
    return out


# Sentences around the PII; they carry ordinary numbers that must survive untouched.
TEMPLATES = [
    "My details: {}.",
    "{} is what I gave the branch",
    "Please check {} for me!",
    "I paid £1,250.00 on 12/03/2024 and gave {}, can you check?",
    "Hi, it's {} — thanks",
    "Is {} still right? My ref is REF-2024-0012.",
    "After 3 working days I still see {} on the 2024 statement",
    "Update it to {}, I was charged 2.5% at 10:30",
    "{}",
    "ok so {} yes",
]


def positive_cases() -> list[tuple[str, str, Variant, str]]:
    """(sentence, expected masked sentence, variant, keyword prefix)."""
    rng = random.Random(SEED)
    variants = (
        card_variants(rng, 420)
        + phone_variants(rng, 320)
        + id_variants(rng, 150)
        + email_variants(rng, 120)
        + account_variants(rng, 60)
    )
    cases = []
    for v in variants:
        keyword = ""
        if v.kind is PiiKind.NATIONAL_ID and not re.search(r"[A-Za-z]{2}|-| ", v.pii):
            keyword = rng.choice(ID_KEYWORDS)
        template = rng.choice(TEMPLATES)
        cases.append((template.format(keyword + v.pii), template.format(keyword + v.masked), v, keyword))
    return cases


def negative_cases() -> list[str]:
    rng = random.Random(SEED + 1)

    def amount() -> str:
        whole = rng.randint(1, 9_999_999)
        return rng.choice(
            [
                f"£{whole:,}.{rng.randint(0, 99):02d}",
                f"${whole:,}",
                f"€{whole % 5000}",
                f"{whole:,}",
                f"£{whole % 1000}",
                f"{whole:,} pounds",
                "£1,234,567,890,123",  # bare, 12+ digits in threes may be a card: masked
                "1,234,567,890,123.45",
            ]
        )

    def date() -> str:
        d, m, y = rng.randint(1, 28), rng.randint(1, 12), rng.randint(1990, 2030)
        return rng.choice(
            [
                f"{d:02d}/{m:02d}/{y}",
                f"{y}-{m:02d}-{d:02d}",
                f"{d:02d}.{m:02d}.{y}",
                f"{d} March {y}",
                f"March {d}, {y}",
                f"{d:02d}-{m:02d}-{y}",
                f"{m}/{d}/{y % 100:02d}",
            ]
        )

    def time_() -> str:
        return rng.choice(
            [
                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
                f"{rng.randint(0, 23)}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
                f"{rng.randint(1, 12)}pm",
                f"{rng.randint(1, 12)}.{rng.randint(0, 59):02d}am",
            ]
        )

    def percent() -> str:
        return rng.choice(
            [
                f"{rng.randint(0, 99)}%",
                f"{rng.randint(0, 20)}.{rng.randint(0, 99):02d}%",
                f"{rng.randint(1, 30)} per cent",
            ]
        )

    def count() -> str:
        return rng.choice(
            [
                f"{rng.randint(1, 10)} working days",
                f"{rng.randint(2, 8)} digits",
                f"{rng.randint(1, 5)} cards",
                f"page {rng.randint(1, 9)} of {rng.randint(10, 20)}",
                "one or two days",
                "two new cards",
                "call 999",
                "extension 4021",
                f"{rng.randint(1, 48)} hours",
                "the last four digits",
            ]
        )

    def reference() -> str:
        return rng.choice(
            [
                f"REF-{rng.randint(2000, 2030)}-{rng.randint(0, 9999):04d}",
                f"ORD-{rdigits(rng, 8)}",
                f"TXN-{rng.randint(2000, 2030)}-03-12-{rdigits(rng, 4)}",
                f"INV/{rng.randint(2000, 2030)}/{rdigits(rng, 5)}",
                f"AB{rdigits(rng, 3)}XY",
                f"case #{rdigits(rng, 6)}",
                f"v{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
            ]
        )

    def year() -> str:
        return rng.choice(
            [str(rng.randint(1950, 2035)), f"in {rng.randint(2000, 2020)} and {rng.randint(2021, 2030)}"]
        )

    makers = [amount, date, time_, percent, count, reference, year]
    templates = [
        "I paid {} yesterday.",
        "On {} it failed",
        "Balance: {}",
        "It took {}, why?",
        "{}",
        "Can you check {} please",
        "The fee was {} which is too much",
    ]
    out = []
    for i in range(360):
        out.append(rng.choice(templates).format(makers[i % len(makers)]()))
    for _ in range(60):  # several ordinary numbers in one sentence
        out.append(
            f"On {date()} at {time_()} I paid {amount()} ({percent()} fee), ref {reference()}, "
            f"it took {count()} in {year()}."
        )
    return out


POSITIVES = positive_cases()
NEGATIVES = negative_cases()


# --------------------------------------------------------------------- tests


def test_generated_volume() -> None:
    assert len(POSITIVES) >= 1000
    assert len(NEGATIVES) >= 300
    kinds = {v.kind for _, _, v, _ in POSITIVES}
    keyword_kinds = {PiiKind.SECURITY_CODE, PiiKind.EXPIRY, PiiKind.PIN, PiiKind.DATE_OF_BIRTH}
    assert kinds == set(PiiKind) - keyword_kinds


def test_positive_variants_are_masked() -> None:
    failures = []
    for sentence, expected, v, _ in POSITIVES:
        masked = mask_pii(sentence)
        if masked != expected:
            failures.append(f"{v.kind}: {sentence!r}\n   got      {masked!r}\n   expected {expected!r}")
    assert not failures, f"{len(failures)} of {len(POSITIVES)} failed:\n" + "\n".join(failures[:25])


def test_positive_spans_have_right_kind_and_extent() -> None:
    failures = []
    for sentence, _, v, _ in POSITIVES:
        spans = find_pii(sentence)
        got = [(sp.kind, sentence[sp.start : sp.end]) for sp in spans]
        if got != [(v.kind, v.pii)]:
            failures.append(f"{sentence!r}: got {got}, expected {[(v.kind, v.pii)]}")
        if not contains_pii(sentence):
            failures.append(f"contains_pii false for {sentence!r}")
    assert not failures, "\n".join(failures[:25])


def test_no_run_of_seven_pii_digits_survives() -> None:
    failures = []
    for sentence, _, v, _ in POSITIVES:
        masked = mask_pii(sentence)
        squeezed = re.sub(r"(?<=\d)[ .-]+(?=\d)", "", masked)
        for i in range(len(v.digits) - 6):
            if v.digits[i : i + 7] in masked or v.digits[i : i + 7] in squeezed:
                failures.append(f"{v.digits[i : i + 7]} survives in {masked!r} (from {sentence!r})")
                break
    assert not failures, "\n".join(failures[:25])


def test_card_placeholder_keeps_only_last_four() -> None:
    for sentence, _, v, _ in POSITIVES:
        if v.kind is PiiKind.CARD:
            masked = mask_pii(sentence)
            assert f"[card ending {v.digits[-4:]}]" in masked, sentence
            assert v.digits[:-4] not in masked, sentence


def test_negatives_are_unchanged() -> None:
    failures = [f"{s!r} -> {mask_pii(s)!r} spans={find_pii(s)}" for s in NEGATIVES if mask_pii(s) != s]
    assert not failures, f"{len(failures)} of {len(NEGATIVES)} changed:\n" + "\n".join(failures[:25])
    assert not any(contains_pii(s) for s in NEGATIVES)


def test_luhn_invalid_sixteen_digits_are_masked_too() -> None:
    """One misheard digit breaks the Luhn check; the number is still a card (PCI DSS 3.3/3.4)."""
    rng = random.Random(SEED + 2)
    for _ in range(200):
        d = str(rng.randint(1, 9)) + rdigits(rng, 15)
        d = d[:-1] + str((int(d[-1]) + rng.randint(1, 9)) % 10) if luhn_valid(d) else d
        for text in (d, " ".join(card_groups(d)), "-".join(card_groups(d)), spell(d, rng)):
            assert mask_pii(f"number {text} here") == f"number [card ending {d[-4:]}] here", text


def test_idempotent() -> None:
    failures = []
    for text in [s for s, _, _, _ in POSITIVES] + NEGATIVES:
        once = mask_pii(text)
        if mask_pii(once) != once:
            failures.append(f"{text!r}: {once!r} -> {mask_pii(once)!r}")
    assert not failures, "\n".join(failures[:25])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My card is 4111 1111 1111 1111.", "My card is [card ending 1111]."),
        ("4111-1111-1111-1111", "[card ending 1111]"),
        ("5500 0000 0000 0004 please", "[card ending 0004] please"),
        ("pay with 378282246310005", "pay with [card ending 0005]"),
        ("four one one one, one one one one, one one one one, one one one one", "[card ending 1111]"),
        ("4111 one one one one one one one one one one one one", "[card ending 1111]"),
        ("card 4111 1111 1111 1111 then 07700 900123", "card [card ending 1111] then [phone]"),
        ("12/03/2024 4111 1111 1111 1111 thanks", "12/03/2024 [card ending 1111] thanks"),
        ("call +44 7700 900123", "call [phone]"),
        ("(020) 7946 0958 or 020 7946 0958", "[phone] or [phone]"),
        ("US: +1 415-555-0132, (415) 555-0132, 415.555.0132", "US: [phone], [phone], [phone]"),
        ("Berlin +49 30 901820", "Berlin [phone]"),
        ("oh seven seven double oh nine oh oh one two three", "[phone]"),
        ("NI AB 12 34 56 C, ab123456c", "NI [id number], [id number]"),
        ("SSN 123-45-6789", "SSN [id number]"),
        (
            "passport number X1234567 and ID number 1234567890",
            "passport number [id number] and ID number [id number]",
        ),
        ("mail john.smith@gmail.com or John dot Smith at Gmail dot com", "mail [email] or [email]"),
        ("sort code 12-34-56, account number 12345678", "sort code [account], account number [account]"),
        ("IBAN GB82 WEST 1234 5698 7654 32", "IBAN [account]"),
        ("visit us at examplebank dot co dot uk", "visit us at examplebank dot co dot uk"),
        (
            "£1,250.00 on 2024-03-12 at 10:30, 3 working days, 5%",
            "£1,250.00 on 2024-03-12 at 10:30, 3 working days, 5%",
        ),
        ("ref REF-2024-0012 and ORD-123-45-6789", "ref REF-2024-0012 and ORD-123-45-6789"),
        ("4111 1111 1111 1112", "[card ending 1112]"),
        (
            "[card ending 1234] [phone] [email] [id number] [account]",
            "[card ending 1234] [phone] [email] [id number] [account]",
        ),
        ("Card no.4111 1111 1111 1111", "Card no.[card ending 1111]"),
        ("call 07700 900123.Thanks", "call [phone].Thanks"),
        ("it is j.smith-2@example.com", "it is [email]"),
        ("REF-2024-0012 then 4111 1111 1111 1111", "REF-2024-0012 then [card ending 1111]"),
        ("", ""),
    ],
)
def test_examples(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


def test_api_shapes() -> None:
    assert {k.value for k in PiiKind} == {
        "card", "phone", "national_id", "email", "account", "security_code", "expiry", "pin", "date_of_birth"
    }  # fmt: skip
    assert set(PLACEHOLDERS) == set(PiiKind)
    text = "Card 4111111111111111, phone 07700 900123."
    spans = find_pii(text)
    assert spans == [PiiSpan(PiiKind.CARD, 5, 21), PiiSpan(PiiKind.PHONE, 29, 41)]
    assert spans == sorted(spans, key=lambda s: s.start)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spans[0].start = 0  # type: ignore[misc]
