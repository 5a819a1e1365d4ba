"""Read, check and modify VocalTractLab gestural scores (``.ges`` XML files).

A score is a ``<gestural_score>`` with one ``<gesture_sequence type="...">`` per tier
(``vowel-gestures``, ``lip-gestures``, ``tongue-tip-gestures``, ``tongue-body-gestures``,
``velic-gestures``, ``glottal-shape-gestures``, ``f0-gestures``, ``lung-pressure-gestures``),
each holding ``<gesture value=... duration_s=... neutral="0|1" .../>`` elements in time order.
Parsed with :mod:`xml.etree.ElementTree`; nothing here calls VocalTractLab.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

# One gesture: (value, duration in s, is neutral); a score: tier type -> gestures in time order.
Gesture = tuple[str, float, bool]
Tiers = dict[str, list[Gesture]]
# Gestures one phone symbol makes: tier type -> gesture values in time order.
Signature = dict[str, list[str]]

VOWEL_TIER = "vowel-gestures"
CONSONANT_TIERS = ("lip-gestures", "tongue-tip-gestures", "tongue-body-gestures")
GLOTTAL_TIER = "glottal-shape-gestures"
F0_TIER = "f0-gestures"
MIN_GESTURE_S = 0.015  # a kept consonant gesture must last at least this long in the score


def read_tiers(score_text: str) -> Tiers:
    """Parse the gesture tiers of a gestural score file.

    Parameters
    ----------
    score_text : str
        Contents of a ``.ges`` file.

    Returns
    -------
    dict
        Tier type -> list of ``(value, duration_s, is_neutral)``.
    """
    root = ET.fromstring(score_text)
    return {
        sequence.get("type", ""): [
            (g.get("value", ""), float(g.get("duration_s", "nan")), g.get("neutral") == "1")
            for g in sequence.iter("gesture")
        ]
        for sequence in root.iter("gesture_sequence")
    }


def shift_f0(score_text: str, offset_st: float) -> str:
    """Add a constant to every F0 target (semitones) of a gestural score.

    Parameters
    ----------
    score_text : str
        Contents of a ``.ges`` file.
    offset_st : float
        Offset in semitones.

    Returns
    -------
    str
        The modified score (other tiers and the layout unchanged).
    """
    root = ET.fromstring(score_text)
    for sequence in root.iter("gesture_sequence"):
        if sequence.get("type") == F0_TIER:
            for gesture in sequence.iter("gesture"):
                gesture.set("value", f"{float(gesture.get('value', '')) + offset_st:.6f}")
    return ET.tostring(root, encoding="unicode") + "\n"


def vowel_names(tiers: Tiers) -> list[str]:
    """Vowel gesture names of a score (the trailing-silence schwa removed).

    Parameters
    ----------
    tiers : dict
        Output of :func:`read_tiers`.

    Returns
    -------
    list of str
        Vowel gesture values in time order.
    """
    names = [value for value, _, _ in tiers[VOWEL_TIER]]
    if names and names[-1] == "@":
        names = names[:-1]
    return names


def consonant_gestures(tiers: Tiers) -> Signature:
    """Non-neutral gestures of the lip, tongue-tip and tongue-body tiers.

    Parameters
    ----------
    tiers : dict
        Output of :func:`read_tiers`.

    Returns
    -------
    dict
        Tier type -> gesture values in time order.
    """
    return {t: [v for v, _, neutral in tiers[t] if not neutral] for t in CONSONANT_TIERS}


def probe_signature(symbol: str, is_vowel: bool, tiers: Tiers) -> Signature:
    """The gestures one symbol made in its probe score; fail if VocalTractLab ignored it.

    The probe is the symbol between two ``t`` (a vowel) or two ``a`` (a consonant), with
    silence around (see :func:`tools.make_sample.vtl.probe_symbol`).

    Parameters
    ----------
    symbol : str
        VocalTractLab SAMPA symbol.
    is_vowel : bool
        Whether the symbol is meant as a vowel.
    tiers : dict
        Output of :func:`read_tiers` for the probe score.

    Returns
    -------
    dict
        ``{"vowel-gestures": [...], <consonant tiers>: [...]}`` produced by this symbol.

    Raises
    ------
    RuntimeError
        If the symbol produced no gesture of its kind or turned into a schwa.
    """
    vowels = vowel_names(tiers)
    consonants = consonant_gestures(tiers)
    if is_vowel:
        kept = bool(vowels) and (vowels != ["@"] or symbol == "@")
        signature = {VOWEL_TIER: vowels}
        signature.update({t: [] for t in CONSONANT_TIERS})
    else:
        glottal = [v for v, _, _ in tiers[GLOTTAL_TIER] if v != "modal"]
        kept = vowels == ["a", "a"] and (any(consonants.values()) or bool(glottal))
        signature = {VOWEL_TIER: [], **consonants}
    if not kept:
        raise RuntimeError(f"VocalTractLab did not keep symbol {symbol!r}: {tiers}")
    return signature


def manner(gesture: str) -> str:
    """Manner part of a consonant gesture name, e.g. ``closure`` for ``tt-alveolar-closure``.

    Parameters
    ----------
    gesture : str
        VocalTractLab gesture value.

    Returns
    -------
    str
        The text after the last ``-``.
    """
    return gesture.rsplit("-", 1)[-1]


def check_consonant_tier(tier: str, expected: list[str], observed: list[tuple[str, float]]) -> None:
    """Compare one consonant tier of a sentence with the gestures its segments should make.

    VocalTractLab assimilates place within a tier (e.g. /n/ before /tS/ becomes postalveolar),
    so gestures are matched by position and manner; each must last at least
    :data:`MIN_GESTURE_S`.

    Parameters
    ----------
    tier : str
        Tier name (for messages).
    expected : list of str
        Gesture values predicted from the probes.
    observed : list of (str, float)
        Non-neutral gestures of the score with their durations (s).

    Raises
    ------
    RuntimeError
        On a missing, extra, different-manner or too-short gesture.
    """
    names = [value for value, _ in observed]
    if [manner(v) for v in names] != [manner(v) for v in expected]:
        raise RuntimeError(f"{tier}: expected {expected}, VocalTractLab made {names}")
    short = [(v, d) for v, d in observed if d < MIN_GESTURE_S]
    if short:
        raise RuntimeError(f"{tier}: gestures shorter than {MIN_GESTURE_S} s: {short}")


def verify_score(
    tiers: Tiers, segments: list[tuple[str, int]], signatures: dict[str, Signature]
) -> None:
    """Check that a sentence's score has the gestures its segments should make.

    Vowel gestures must match exactly (so no intended vowel became a schwa); consonant tiers
    are checked with :func:`check_consonant_tier`.

    Parameters
    ----------
    tiers : dict
        Output of :func:`read_tiers` for the sentence.
    segments : list of (str, int)
        The segments that were synthesised.
    signatures : dict
        Symbol -> :func:`probe_signature` of that symbol.

    Raises
    ------
    RuntimeError
        If a vowel or consonant gesture is missing, extra, too short or became a schwa.
    """
    expected: Signature = {VOWEL_TIER: [], **{t: [] for t in CONSONANT_TIERS}}
    for symbol, _ in segments:
        for tier, values in signatures.get(symbol, {}).items():
            expected[tier].extend(values)
    vowels = vowel_names(tiers)
    if vowels != expected[VOWEL_TIER]:
        raise RuntimeError(f"vowels: expected {expected[VOWEL_TIER]}, got {vowels}")
    for tier in CONSONANT_TIERS:
        observed = [(v, d) for v, d, neutral in tiers[tier] if not neutral]
        check_consonant_tier(tier, expected[tier], observed)
