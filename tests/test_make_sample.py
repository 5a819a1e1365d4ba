"""The VocalTractLab-free parts of the sample generator (``tools/make_sample``); the rest is
checked by regenerating the sample (``make sample`` leaves ``git status`` clean)."""

from __future__ import annotations

import pytest

from tools.make_sample import score
from tools.make_sample.corpus import SENTENCES, SPEAKERS
from tools.make_sample.phones import (
    ENGLISH_TO_VTL,
    SILENCE,
    parse_words,
    phone_rows,
    segment_durations,
)

# A score as VocalTractLab 2.4.2 writes it for "a t a" (abridged: empty tiers kept).
SCORE = """<gestural_score>
  <gesture_sequence type="vowel-gestures" unit="">
    <gesture value="a" slope="0.000000" duration_s="0.180000" time_constant_s="0.012000" neutral="0" />
    <gesture value="a" slope="0.000000" duration_s="0.190000" time_constant_s="0.012000" neutral="0" />
    <gesture value="@" slope="0.000000" duration_s="0.120000" time_constant_s="0.012000" neutral="0" />
  </gesture_sequence>
  <gesture_sequence type="lip-gestures" unit="">
  </gesture_sequence>
  <gesture_sequence type="tongue-tip-gestures" unit="">
    <gesture value="" slope="0.000000" duration_s="0.122500" time_constant_s="0.012000" neutral="1" />
    <gesture value="tt-alveolar-closure" slope="0.000000" duration_s="0.085000" time_constant_s="0.012000" neutral="0" />
  </gesture_sequence>
  <gesture_sequence type="tongue-body-gestures" unit="">
  </gesture_sequence>
  <gesture_sequence type="glottal-shape-gestures" unit="">
    <gesture value="modal" slope="0.000000" duration_s="0.190000" time_constant_s="0.012000" neutral="0" />
    <gesture value="voiceless-plosive" slope="0.000000" duration_s="0.060000" time_constant_s="0.012000" neutral="0" />
  </gesture_sequence>
  <gesture_sequence type="f0-gestures" unit="st">
    <gesture value="80.000000" slope="0.000000" duration_s="0.010000" time_constant_s="0.030000" neutral="0" />
    <gesture value="83.000000" slope="0.000000" duration_s="0.300000" time_constant_s="0.030000" neutral="0" />
  </gesture_sequence>
</gestural_score>
"""  # noqa: E501


def test_read_tiers_and_probe_signatures() -> None:
    tiers = score.read_tiers(SCORE)
    tongue_tip = [("", 0.1225, True), ("tt-alveolar-closure", 0.085, False)]
    assert tiers["tongue-tip-gestures"] == tongue_tip
    assert tiers["lip-gestures"] == []
    assert score.vowel_names(tiers) == ["a", "a"]
    signature = score.probe_signature("t", False, tiers)
    assert signature["tongue-tip-gestures"] == ["tt-alveolar-closure"]
    assert signature["vowel-gestures"] == []
    schwa_only = {**tiers, "vowel-gestures": [("@", 0.09, False), ("@", 0.1, False)]}
    with pytest.raises(RuntimeError, match="did not keep"):
        score.probe_signature("V", True, schwa_only)


def test_shift_f0_changes_only_the_f0_targets() -> None:
    shifted = score.shift_f0(SCORE, 9.0)
    expected = SCORE.replace('value="80.000000"', 'value="89.000000"')
    assert shifted == expected.replace('value="83.000000"', 'value="92.000000"')
    assert score.shift_f0(SCORE, 0.0) == SCORE


def test_verify_score_finds_a_missing_consonant() -> None:
    tiers = score.read_tiers(SCORE)
    signatures = {
        "a": {"vowel-gestures": ["a"], **{t: [] for t in score.CONSONANT_TIERS}},
        "t": score.probe_signature("t", False, tiers),
    }
    segments = [("", 100), ("a", 100), ("t", 90), ("a", 100), ("", 100)]
    score.verify_score(tiers, segments, signatures)
    with pytest.raises(RuntimeError, match="tongue-tip"):
        score.verify_score(tiers, [*segments[:3], ("t", 90), *segments[3:]], signatures)


def test_every_transcribed_phone_has_a_vtl_symbol() -> None:
    phones = {p for _, arpabet in SENTENCES.values() for w in parse_words(arpabet) for p in w}
    assert phones <= set(ENGLISH_TO_VTL)


def test_segments_are_seeded_and_phone_rows_contiguous() -> None:
    speaker = SPEAKERS[1]
    segments = segment_durations("S18", speaker, 1)
    assert segments == segment_durations("S18", speaker, 1)
    assert segments != segment_durations("S18", speaker, 0)
    rows = phone_rows(speaker.participant, "f.mat", segments)
    assert rows[0]["PHONE"] == rows[-1]["PHONE"] == SILENCE
    assert all(a["END_S"] == b["START_S"] for a, b in zip(rows, rows[1:], strict=False))
