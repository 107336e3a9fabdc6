from __future__ import annotations

import itertools

import numpy as np
import pytest

from avatar.timeline import MouthTrack, VisemeTimeline
from avatar.visemes import OPEN, PRESS, SHAPES, WIDTH, Viseme, phoneme_to_viseme


@pytest.mark.parametrize(
    ("ipa", "viseme"),
    [
        ("p", Viseme.PP),
        ("b", Viseme.PP),
        ("m", Viseme.PP),
        ("f", Viseme.FF),
        ("v", Viseme.FF),
        ("θ", Viseme.TH),
        ("ð", Viseme.TH),
        ("t", Viseme.DD),
        ("d", Viseme.DD),
        ("k", Viseme.KK),
        ("ŋ", Viseme.KK),
        ("ʃ", Viseme.CH),
        ("tʃ", Viseme.CH),
        ("s", Viseme.SS),
        ("z", Viseme.SS),
        ("n", Viseme.NN),
        ("l", Viseme.NN),
        ("ɹ", Viseme.RR),
        ("ɚ", Viseme.RR),
        ("æ", Viseme.AA),
        ("ɑ", Viseme.AA),
        ("ʌ", Viseme.AA),
        ("ɛ", Viseme.E),
        ("ə", Viseme.E),
        ("ɪ", Viseme.IH),
        ("i", Viseme.IH),
        ("o", Viseme.OH),
        ("ɔ", Viseme.OH),
        ("u", Viseme.OU),
        ("ʊ", Viseme.OU),
        ("w", Viseme.OU),
        (" ", Viseme.SIL),
        (",", Viseme.SIL),
        ("^", Viseme.SIL),
        ("$", Viseme.SIL),
    ],
)
def test_ipa_maps_to_viseme(ipa: str, viseme: Viseme) -> None:
    assert phoneme_to_viseme(ipa) is viseme


def test_modifier_marks_have_no_viseme_of_their_own() -> None:
    assert phoneme_to_viseme("ˈ") is None
    assert phoneme_to_viseme("ː") is None


def test_at_least_twelve_distinct_mouth_shapes() -> None:
    shapes = {tuple(np.round(SHAPES[v].as_array(), 3)) for v in Viseme}
    assert len(shapes) >= 12
    assert SHAPES[Viseme.AA].open > SHAPES[Viseme.E].open > SHAPES[Viseme.SS].open
    assert SHAPES[Viseme.OU].width < 0 < SHAPES[Viseme.IH].width


def test_stress_and_length_marks_merge_into_neighbours() -> None:
    tl = VisemeTimeline.from_phoneme_durations(
        [("h", 0.05), ("ˈ", 0.04), ("ɑ", 0.1), ("ː", 0.05), ("t", 0.06)]
    )
    segs = tl.segments()
    assert [v for v, _, _ in segs] == [Viseme.KK, Viseme.AA, Viseme.DD]
    assert segs[1][1] == pytest.approx(0.05) and segs[1][2] == pytest.approx(0.24)
    assert tl.duration == pytest.approx(0.30)


def test_short_word_gap_is_shared_long_pause_is_kept() -> None:
    tl = VisemeTimeline.from_phoneme_durations([("ɑ", 0.1), (" ", 0.02), ("ɑ", 0.1), (".", 0.3), ("u", 0.1)])
    vis = [v for v, _, _ in tl.segments()]
    assert vis in ([Viseme.AA, Viseme.SIL, Viseme.OU], [Viseme.AA, Viseme.AA, Viseme.SIL, Viseme.OU])
    assert tl.viseme_at(0.11) is Viseme.AA
    assert tl.viseme_at(0.35) is Viseme.SIL


def test_timeline_from_piper_alignments_uses_sample_counts() -> None:
    class FakeAlignment:
        def __init__(self, phoneme: str, num_samples: int) -> None:
            self.phoneme, self.num_samples = phoneme, num_samples

    tl = VisemeTimeline.from_piper(
        [FakeAlignment("^", 2205), FakeAlignment("m", 2205), FakeAlignment("a", 4410)], 22050
    )
    assert tl.segments() == [
        (Viseme.SIL, 0.0, 0.1),
        (Viseme.PP, 0.1, 0.2),
        (Viseme.AA, 0.2, pytest.approx(0.4)),
    ]


def test_track_interpolates_between_visemes() -> None:
    tl = VisemeTimeline.from_segments([(Viseme.AA, 0.0, 0.2), (Viseme.OU, 0.2, 0.4)])
    track = MouthTrack()
    track.append(tl, 0.0)
    out = np.zeros(8)
    track.sample(0.1, out)
    assert out[OPEN] == pytest.approx(SHAPES[Viseme.AA].open, abs=0.15)
    widths = []
    for t in np.linspace(0.04, 0.36, 9):
        track.sample(float(t), out)
        widths.append(out[WIDTH])
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(widths)), "width must move smoothly from aa to ou"
    assert widths[0] > 0.0 > widths[-1]
    track.sample(1.0, out)
    assert out[OPEN] < 0.02, "silence after the track"


def test_bilabial_closure_survives_coarticulation_and_frame_sampling() -> None:
    tl = VisemeTimeline.from_segments(
        [(Viseme.AA, 0.0, 0.15), (Viseme.PP, 0.15, 0.17), (Viseme.AA, 0.17, 0.35)]
    )
    track = MouthTrack()
    track.append(tl, 0.0)
    out, scratch = np.zeros(8), np.zeros((2, 8))
    frames = []
    for k in range(9):
        track.sample_frame(k * 0.04, (k + 1) * 0.04, out, scratch)
        frames.append((out[OPEN], out[PRESS]))
    assert any(press > 0.5 and opening < 0.25 for opening, press in frames), frames
    assert max(o for o, _ in frames) > 0.7
