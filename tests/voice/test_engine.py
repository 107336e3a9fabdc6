"""What every speech engine shares: the first sound of a reply comes first."""

from __future__ import annotations

import numpy as np

from avatar.timeline import VisemeTimeline
from avatar.visemes import VISEME_INDEX, Viseme
from server.voice.speech.cache import SpeechPiece
from server.voice.speech.engine import KEEP_LEAD_S, trim_leading_silence

RATE = 22_050


def _piece(lead_s: float) -> SpeechPiece:
    tone = (np.sin(np.arange(RATE // 2) * 2 * np.pi * 200 / RATE) * 9000).astype(np.int16)
    audio = np.concatenate([np.zeros(int(lead_s * RATE), np.int16), tone])
    aa, pp = VISEME_INDEX[Viseme.AA], VISEME_INDEX[Viseme.PP]
    timeline = VisemeTimeline(
        np.array([0.0, lead_s, lead_s + 0.2]),
        np.array([lead_s, lead_s + 0.2, lead_s + 0.5]),
        np.array([0, aa, pp]),
    )
    return SpeechPiece(pcm=audio.tobytes(), visemes=timeline)


def test_the_lead_in_silence_goes_and_the_visemes_move_with_the_audio() -> None:
    trimmed = trim_leading_silence(_piece(0.06), RATE)
    audio = np.frombuffer(trimmed.pcm, dtype=np.int16)
    first_sound = int(np.flatnonzero(np.abs(audio) > 300)[0])
    assert abs(first_sound - KEEP_LEAD_S * RATE) <= 2
    assert (
        len(audio) == int(KEEP_LEAD_S * RATE) + RATE // 2 + 1
        or abs(len(audio) - (KEEP_LEAD_S * RATE + RATE // 2)) <= 2
    )
    assert trimmed.visemes is not None
    speech = [s for s in trimmed.visemes.segments() if s[0] is not Viseme.SIL]
    assert speech[0][0] is Viseme.AA and abs(speech[0][1] - KEEP_LEAD_S) < 1e-3
    assert abs(trimmed.visemes.duration - (KEEP_LEAD_S + 0.5)) < 1e-3


def test_a_piece_that_starts_with_its_sound_is_left_alone() -> None:
    piece = _piece(0.0)
    assert trim_leading_silence(piece, RATE) is piece
    silent = SpeechPiece(pcm=bytes(2000), visemes=None)
    assert trim_leading_silence(silent, RATE) is silent
