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


class FakeIdAlignment:
    """Piper's PhonemeAlignment: a phoneme, its ids (own + trailing pad 0) and its samples."""

    def __init__(self, phoneme: str, ids: list[int], num_samples: int) -> None:
        self.phoneme, self.phoneme_ids, self.num_samples = phoneme, ids, num_samples


def test_piper_pads_are_shared_between_neighbours() -> None:
    # ^ = 1000 own + 1000 pad, m = 1000 + 3000 pad, a = 4000 + 2000 pad, $ = 1000 (no pad)
    al = [
        FakeIdAlignment("^", [1, 0], 2000),
        FakeIdAlignment("m", [25, 0], 4000),
        FakeIdAlignment("a", [14, 0], 6000),
        FakeIdAlignment("$", [2], 1000),
    ]
    exact = VisemeTimeline.from_piper(
        al, 10000, phoneme_id_samples=[1000, 1000, 1000, 3000, 4000, 2000, 1000]
    )
    # each boundary sits in the middle of the pad between two phonemes
    assert [(v, round(s, 3), round(e, 3)) for v, s, e in exact.segments()] == [
        (Viseme.SIL, 0.0, 0.15),
        (Viseme.PP, 0.15, 0.45),
        (Viseme.AA, 0.45, 1.1),
        (Viseme.SIL, 1.1, 1.3),
    ]
    assert exact.duration == pytest.approx(1.3), "the total stays the audio's length"
    estimated = VisemeTimeline.from_piper(al, 10000)  # no per-id counts: half of each phoneme is pad
    assert [round(s, 3) for _, s, _ in estimated.segments()] == [0.0, 0.15, 0.5, 1.05]
    assert estimated.duration == pytest.approx(1.3)
    misaligned = VisemeTimeline.from_piper(al, 10000, phoneme_id_samples=[1000, 1000])
    assert [round(s, 3) for _, s, _ in misaligned.segments()] == [0.0, 0.2, 0.6, 1.2], "plain counts"


def test_anticipation_reaches_further_than_carry_over() -> None:
    tl = VisemeTimeline.from_segments([(Viseme.SIL, 0.0, 0.3), (Viseme.AA, 0.3, 0.5), (Viseme.SIL, 0.5, 0.8)])
    track = MouthTrack()
    track.append(tl, 0.0)
    before, after = np.zeros(8), np.zeros(8)
    track.sample(0.3 - 0.03, before)
    track.sample(0.5 + 0.03, after)
    assert before[OPEN] > after[OPEN] + 0.05, "the mouth opens before the vowel and closes soon after it"


def test_track_interpolates_between_visemes() -> None:
    tl = VisemeTimeline.from_segments([(Viseme.AA, 0.0, 0.2), (Viseme.OU, 0.2, 0.4)])
    track = MouthTrack()
    track.append(tl, 0.0)
    out = np.zeros(8)
    track.sample(0.1, out)
    # mostly aa at its centre; the anticipation of the rounded ou already shows a little
    assert out[OPEN] == pytest.approx(SHAPES[Viseme.AA].open, abs=0.2)
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


def test_closure_grazing_a_frame_edge_does_not_shut_the_frame() -> None:
    tl = VisemeTimeline.from_segments([(Viseme.PP, 0.0, 0.1), (Viseme.AA, 0.1, 0.3)])
    track = MouthTrack()
    track.append(tl, 0.0)
    out, scratch = np.zeros(8), np.zeros((2, 8))
    track.sample_frame(0.108, 0.148, out, scratch)  # only its first sample still feels the release
    assert out[PRESS] < 0.5 and out[OPEN] > 0.5, "the vowel that fills the frame is shown"
    track.sample_frame(0.07, 0.11, out, scratch)  # closed for most of the frame
    assert out[PRESS] > 0.9
