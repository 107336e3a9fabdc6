"""Visemes: IPA phoneme -> mouth shape mapping (15 Oculus-style visemes)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, fields
from enum import StrEnum

import numpy as np
import numpy.typing as npt

Vec = npt.NDArray[np.float64]


class Viseme(StrEnum):
    """The 15 visemes of the Oculus/Meta lip-sync set."""

    SIL = "sil"
    PP = "PP"  # p b m: lips pressed
    FF = "FF"  # f v: lower lip under upper teeth
    TH = "TH"  # θ ð: tongue between teeth
    DD = "DD"  # t d: tongue tip up, jaw slightly open
    KK = "kk"  # k g ŋ: back consonants
    CH = "CH"  # ʃ ʒ tʃ dʒ: lips forward, teeth close
    SS = "SS"  # s z: teeth close, lips spread
    NN = "nn"  # n l
    RR = "RR"  # ɹ ɚ: slightly rounded
    AA = "aa"  # a ɑ æ ʌ: wide open
    E = "E"  # ɛ e: mid open, spread
    IH = "ih"  # ɪ i j: narrow, spread
    OH = "oh"  # o ɔ: open, round
    OU = "ou"  # u ʊ w: small round


@dataclass(frozen=True)
class MouthShape:
    """Mouth parameters in 0..1 (``width`` in -1..1: rounded .. spread)."""

    open: float = 0.0
    width: float = 0.0
    round: float = 0.0
    teeth_upper: float = 0.0
    teeth_lower: float = 0.0
    tongue: float = 0.0
    press: float = 0.0
    tuck: float = 0.0

    def as_array(self) -> Vec:
        """Parameters as a float vector in field order (see ``MOUTH_FIELDS``)."""
        return np.array([getattr(self, f.name) for f in fields(self)], dtype=np.float64)

    @classmethod
    def from_array(cls, values: Vec) -> MouthShape:
        """Inverse of ``as_array``."""
        return cls(*(float(v) for v in values))


MOUTH_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(MouthShape))
OPEN, WIDTH, ROUND, TEETH_UP, TEETH_LO, TONGUE, PRESS, TUCK = range(len(MOUTH_FIELDS))

SHAPES: dict[Viseme, MouthShape] = {
    Viseme.SIL: MouthShape(),
    Viseme.PP: MouthShape(open=0.0, width=0.0, press=1.0),
    Viseme.FF: MouthShape(open=0.12, width=0.15, teeth_upper=0.9, tuck=1.0),
    Viseme.TH: MouthShape(open=0.22, width=0.1, teeth_upper=0.7, teeth_lower=0.4, tongue=0.9),
    Viseme.DD: MouthShape(open=0.28, width=0.2, teeth_upper=0.6, teeth_lower=0.3, tongue=0.4),
    Viseme.KK: MouthShape(open=0.35, width=0.1, teeth_upper=0.5, teeth_lower=0.3),
    Viseme.CH: MouthShape(open=0.2, width=-0.45, round=0.6, teeth_upper=0.8, teeth_lower=0.7),
    Viseme.SS: MouthShape(open=0.12, width=0.5, teeth_upper=0.9, teeth_lower=0.8),
    Viseme.NN: MouthShape(open=0.25, width=0.15, teeth_upper=0.5, teeth_lower=0.2, tongue=0.5),
    Viseme.RR: MouthShape(open=0.25, width=-0.35, round=0.5, teeth_upper=0.4),
    Viseme.AA: MouthShape(open=1.0, width=0.2, teeth_upper=0.6, teeth_lower=0.2, tongue=0.2),
    Viseme.E: MouthShape(open=0.6, width=0.5, teeth_upper=0.7, teeth_lower=0.3),
    Viseme.IH: MouthShape(open=0.35, width=0.7, teeth_upper=0.8, teeth_lower=0.5),
    Viseme.OH: MouthShape(open=0.75, width=-0.55, round=0.8, teeth_upper=0.2),
    Viseme.OU: MouthShape(open=0.35, width=-0.85, round=1.0),
}

SHAPE_MATRIX: npt.NDArray[np.float64] = np.stack([SHAPES[v].as_array() for v in Viseme])
VISEME_INDEX: dict[Viseme, int] = {v: i for i, v in enumerate(Viseme)}

# Dominance (how strongly a segment imposes its shape) and its spread in seconds
# before the segment (anticipation) and after it (carry-over), after Cohen &
# Massaro's coarticulation model. Speakers shape the mouth for a sound before it
# is heard, so anticipation reaches further than carry-over. Lips pressed for
# /p b m/ or tucked for /f v/ close quickly and part sharply at the release:
# short anticipation, a few milliseconds of carry-over.
DOMINANCE: dict[Viseme, tuple[float, float, float]] = {
    Viseme.SIL: (0.6, 0.05, 0.05),
    Viseme.PP: (6.0, 0.02, 0.008),
    Viseme.FF: (3.0, 0.025, 0.008),
    Viseme.TH: (0.6, 0.045, 0.021),
    Viseme.DD: (0.35, 0.045, 0.021),
    Viseme.KK: (0.3, 0.045, 0.021),
    Viseme.CH: (1.5, 0.0525, 0.0245),
    Viseme.SS: (1.0, 0.045, 0.021),
    Viseme.NN: (0.35, 0.045, 0.021),
    Viseme.RR: (0.55, 0.06, 0.028),
    Viseme.AA: (0.8, 0.075, 0.035),
    Viseme.E: (0.7, 0.075, 0.035),
    Viseme.IH: (0.6, 0.075, 0.035),
    Viseme.OH: (0.8, 0.09, 0.042),
    Viseme.OU: (0.85, 0.09, 0.042),
}
DOMINANCE_ALPHA = np.array([DOMINANCE[v][0] for v in Viseme])
DOMINANCE_BEFORE = np.array([DOMINANCE[v][1] for v in Viseme])
DOMINANCE_AFTER = np.array([DOMINANCE[v][2] for v in Viseme])

_IPA: dict[str, Viseme] = {}
for _chars, _vis in (
    ("pbmɱ", Viseme.PP),
    ("fvʋ", Viseme.FF),
    ("θð", Viseme.TH),
    ("tdɾʈɖ", Viseme.DD),
    ("kgŋxɣqɢʔhɦχ", Viseme.KK),
    ("ʃʒçʝ", Viseme.CH),
    ("szɕʑ", Viseme.SS),
    ("nlɫɲɳɭʎ", Viseme.NN),
    ("ɹrɻɚɝʁ", Viseme.RR),
    ("aɑæʌɐɒɶ", Viseme.AA),
    ("eɛəɜɘœø", Viseme.E),
    ("iɪjɨᵻyʏ", Viseme.IH),
    ("oɔɤ", Viseme.OH),
    ("uʊwɯɵʉ", Viseme.OU),
):
    for _ch in _chars:
        _IPA[_ch] = _vis

#: Marks that carry no mouth shape of their own: stress belongs to the next phoneme,
#: length and other modifiers to the previous one.
PREFIX_MARKS = frozenset("ˈˌ")
SUFFIX_MARKS = frozenset("ːˑ̃ʰʲʷ̩̯͡")
SILENCE_MARKS = frozenset(" ^$_,.;:!?¡¿—–-…\"'()[]{}«»\n\t")


def phoneme_to_viseme(phoneme: str) -> Viseme | None:
    """Viseme of one IPA phoneme (or eSpeak multi-letter symbol such as ``tʃ``).

    Returns ``None`` for modifier marks (stress, length) that attach to a neighbour,
    ``Viseme.SIL`` for pauses and punctuation, and a best effort for anything else
    (the base letter of a decomposed character, else a neutral ``E``).
    """
    if not phoneme or phoneme in SILENCE_MARKS or phoneme.isspace():
        return Viseme.SIL
    if phoneme in PREFIX_MARKS or phoneme in SUFFIX_MARKS:
        return None
    if phoneme in ("tʃ", "dʒ", "t͡ʃ", "d͡ʒ"):
        return Viseme.CH
    head = phoneme[0]
    if head in _IPA:
        return _IPA[head]
    base = unicodedata.normalize("NFD", head)[0].lower()
    if base in _IPA:
        return _IPA[base]
    return Viseme.SIL if unicodedata.category(head).startswith("P") else Viseme.E
