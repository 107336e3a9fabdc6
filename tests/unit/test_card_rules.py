"""One test per masking rule of issue #18 (card data in clear): cards without Luhn, every
separator, full-width and glued digits, spoken numbers, the keyword-anchored values, and
what must stay (amounts, dates, phones, hex identifiers)."""

from __future__ import annotations

import pytest

from server.brain.pii import MaskedText, PiiKind, find_pii, mask_pii, mask_values

CARD = "[card ending 1112]"  # 4111 1111 1111 1112 fails the Luhn check


@pytest.mark.parametrize(
    "written",
    [
        "4111111111111112",
        "4111 1111 1111 1112",
        "4111-1111-1111-1112",
        "4111\n1111\n1111\n1112",
        "4111\r\n1111\r\n1111\r\n1112",
        "4111,1111,1111,1112",
        "4111, 1111, 1111, 1112",
        "4111.1111.1111.1112",
        "4111. 1111. 1111. 1112",
        "4111/1111/1111/1112",
        "4111 / 1111 / 1111 / 1112",
        "4111 - 1111 - 1111 - 1112",
        "4111-1111 1111 - 1112",
        "４１１１ １１１１ １１１１ １１１２",
        "４１１１\u3000１１１１\u3000１１１１\u3000１１１２",
        "411 111 111 111 112",
    ],
)
def test_a_card_is_masked_whatever_its_separators(written: str) -> None:
    assert mask_pii(f"my card is {written} thanks") == f"my card is {CARD} thanks"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card4111111111111112", "card" + CARD),
        ("4111111111111112please", CARD + "please"),
        ("CARD:4111111111111112END", "CARD:" + CARD + "END"),
        ("x4111 1111 1111 1112y", "x" + CARD + "y"),
    ],
)
def test_digits_run_into_letters_are_masked(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


@pytest.mark.parametrize("length", range(12, 20))
def test_every_length_from_twelve_to_nineteen_is_a_card(length: int) -> None:
    digits = ("5" + "0123456789" * 2)[:length]
    assert mask_pii(f"number {digits} here") == f"number [card ending {digits[-4:]}] here"


def test_eleven_digits_are_not_a_card_and_twenty_are_masked_whole() -> None:
    assert mask_pii("ref 51234567890 here") == "ref 51234567890 here"
    assert mask_pii("5012 3456 7890 1234 5678") == "[card ending 5678]"


@pytest.mark.parametrize(
    "spoken",
    [
        "four one one one one one one one one one one one one one one two",
        "Four One One One, One One One One, One One One One, One One One Two",
        "forty one eleven eleven eleven eleven eleven eleven twelve",
        "forty-one eleven, eleven eleven, eleven eleven, eleven twelve",
        "four triple one double one double one double one one one two",
        "4111 one one one one one one one one one one one two",
    ],
)
def test_spoken_cards_are_masked(spoken: str) -> None:
    assert mask_pii(f"it's {spoken} ok") == f"it's {CARD} ok"


def test_oh_and_tens_read_as_digits() -> None:
    assert mask_pii("five oh oh two twenty thirty forty-five sixty seven eighty nine") == "[card ending 6789]"
    assert mask_pii("twenty twenty four") == "twenty twenty four"  # a year, four digits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my CVV is 123", "my CVV is [security code]"),
        ("security code: one two three", "security code: [security code]"),
        ("the three digit code is 4 5 6", "the three digit code is [security code]"),
        ("321 is the CVV", "[security code] is the CVV"),
        ("expiry 09/27", "expiry [expiry date]"),
        ("it expires September twenty twenty seven", "it expires [expiry date]"),
        ("valid thru 12-2027, thanks", "valid thru [expiry date], thanks"),
        ("expiry date oh nine twenty seven", "expiry date [expiry date]"),
        ("my PIN is 4321", "my PIN is [pin]"),
        ("pin number: four three two one", "pin number: [pin]"),
        ("4321 is my pin", "[pin] is my pin"),
        ("date of birth 12/03/1980", "date of birth [date of birth]"),
        ("DOB: 12 March 1980", "DOB: [date of birth]"),
        ("I was born on the twelfth of March nineteen eighty", "I was born on the [date of birth]"),
        ("my birthday is 5th of May", "my birthday is [date of birth]"),
    ],
)
def test_keyword_anchored_values_are_masked(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "my PIN is blocked",
        "what is a CVV?",
        "the card expires in 2 days",
        "I forgot my pin 3 times",
        "I was born in London",
        "I paid £1,250.00 on 12/03/2025 at 10:30",
        "top up 20 pounds",
        "12/03/2025 - 15/03/2025",
        "On 12/03/2024 4500 was taken",
        "sort code 20-00-00 is ours? no, 20-00-00 is on the letter",
        "REF-2024-0012 and TXN-2024-03-12-1234",
        "£1,234,567,890,123 and 1,234,567,890,123.45",
        "call +44 7700 900123",
        "session 3f2a9c1b84411111111111114e5f6a7b8c9d0e1f",
        "request 9b2e4c1a-1234-4567-8901-123456789012 failed",
    ],
)
def test_ordinary_text_is_left_or_kept_as_it_was(text: str) -> None:
    masked = mask_pii(text)
    if "+44" in text:
        assert masked == "call [phone]"  # a phone is a phone, not a card
    elif "sort code" in text:
        assert masked == "sort code [account] is ours? no, 20-00-00 is on the letter"
    else:
        assert masked == text


def test_a_date_next_to_a_card_is_cut_off() -> None:
    assert mask_pii("12/03/2024 4111 1111 1111 1112") == f"12/03/2024 {CARD}"
    assert mask_pii("£1,250.00 4111 1111 1111 1112") == f"£1,250.00 {CARD}"
    assert mask_pii("07700 900123, 4111 1111 1111 1112") == f"[phone], {CARD}"


def test_new_placeholders_are_idempotent_and_kinds_reported() -> None:
    text = "card 4111 1111 1111 1112 exp 09/27 cvv 123 pin 4321 dob 01/02/1990"
    once = mask_pii(text)
    assert once == f"card {CARD} exp [expiry date] cvv [security code] pin [pin] dob [date of birth]"
    assert mask_pii(str(once)) == once and isinstance(once, MaskedText)
    kinds = [sp.kind for sp in find_pii(text)]
    assert kinds == [PiiKind.CARD, PiiKind.EXPIRY, PiiKind.SECURITY_CODE, PiiKind.PIN, PiiKind.DATE_OF_BIRTH]


def test_mask_values_masks_strings_deep_inside() -> None:
    value = {"why": "card 4111 1111 1111 1112", "n": 3, "lines": ["pin 4321", ("07700 900123", None)]}
    assert mask_values(value) == {"why": f"card {CARD}", "n": 3, "lines": ["pin [pin]", ("[phone]", None)]}
