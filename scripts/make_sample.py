"""Generate the committed offline sample with VocalTractLab (maintainers only).

This script writes ``tutorial_utils/data/sample/``: synthetic read speech of two synthetic
adult speakers, ``SYN-F`` (higher F0, faster) and ``SYN-M`` (lower F0, slower), plus virtual EMA
trajectories and phone labels taken from the same articulatory simulation. The files mirror the
formats of the tutorial's real data (see the "real data" section of the design notes) closely
enough for every chapter to run offline. Everything written here is **synthetic: VocalTractLab
speech**; no recording of a real person is involved.

It needs ``vocaltractlab-cython`` (GPL-3, the optional ``sample`` extra), which the tutorial
package itself never imports, and the package itself (for the frame grid, the EMA columns and
the atomic writes). Run it from a separate environment::

    make sample   # = python3 -m venv .venv-sample; pip install -e .[sample]; run this script

Pipeline per recording
----------------------
1. English phones (ARPAbet, transcribed by hand below) are mapped onto VocalTractLab's German
   SAMPA inventory with :data:`ENGLISH_TO_VTL`; durations come from a small table, scaled by
   the speaker's speaking rate and a seeded per-segment jitter, with phrase-final lengthening.
2. ``phoneme_file_to_gesture_file`` builds the gestural score. Because VocalTractLab silently
   ignores unknown symbols (or turns them into schwa), the score is read back and checked
   against the gestures each symbol produces in isolation (:func:`verify_score`).
3. The F0 tier of the score is shifted by the speaker's offset in semitones.
4. ``gesture_file_to_motor_file`` gives the tract states (one per 110 samples at 44.1 kHz,
   about 400.9 states/s) and ``gesture_file_to_audio`` the 44.1 kHz audio.
5. Audio is resampled to 16 kHz (``scipy.signal.resample_poly(x, 160, 441)``), peak-normalised
   to 0.9 (gain recorded in the manifest) and stored as 16-bit FLAC.

Speakers and anatomy
--------------------
Both speakers use VocalTractLab's bundled adult male vocal tract (``JD3.speaker``) unchanged;
they differ in F0 (offset added to every F0 target), speaking rate and seeded duration jitter,
so they are not time-aligned copies. ``set_anatomy_from_age`` (and ``set_anatomy_params``) was
tried for a female tract and rejected: in vocaltractlab-cython 0.0.17 / API 2.4.2 any anatomy
change empties the speaker's shape list, so gestural scores degenerate and the tract stays at
its neutral shape for the whole utterance (and ``vtlClose`` segfaults at exit). Synthesising
the JD3 tract states in a female or even a from-age male anatomy (``synth_block``) fails too:
JD3's targets then leave /k g N/ open and close /i:/ completely.

Virtual EMA convention
----------------------
Sensors are fixed vertices of VocalTractLab's 3-D surface meshes
(``get_surface_vertices(tract_state, surface)``), all within 1.5 mm of the midsagittal plane,
so each behaves like a sensor glued to a flesh point:

* ``TR`` (tongue rear/dorsum): tongue surface (16), rib 20, midline point 5.
* ``TB`` (tongue blade): tongue surface (16), rib 25, midline point 5.
* ``TT`` (tongue tip): tongue surface (16), rib 30, midline point 5 (VocalTractLab's own
  predefined TT EMA vertex, 335 = 30 * 11 + 5), about 7 mm behind the apex.
  The three tongue sensors are about 17 mm apart along the tongue, like the real sensors.
* ``UL`` / ``LL``: upper-lip (4) / lower-lip (5) surface, last (midline) rib, outermost
  point 9 (VocalTractLab's predefined lip EMA vertex 89 = 8 * 10 + 9).
* ``JAW`` (lower incisor): lower-teeth surface (1), midline rib 24, incisal-edge point 2.

Coordinates are in millimetres relative to the upper incisor edge (upper-teeth surface 0,
rib 24, point 2, which never moves). ``_X`` is posterior→anterior (positive = towards the lips)
and ``_Y`` is **vertical** (positive = up). Note that in the real ``ema_labels_F02.csv`` the
``_Y`` column is the *lateral* axis; the synthetic sample uses the vertical axis because the
VocalTractLab tract is symmetric and has no lateral movement. Values are rounded to 2 decimals.

Tract states are linearly interpolated (per parameter) to the EMA frame times and the mesh is
evaluated there. EMA row ``t`` is the state at time ``t * 20 ms``; each recording has exactly
``floor((N16k - 400) / 320) + 1`` rows, the number of Wav2Vec2 frames of its 16 kHz audio
(``N16k`` samples), with ``TIMESTEP`` 0-based per file.

Outputs (all written atomically: temporary file, then ``os.replace``)
--------------------------------------------------------------------
``<FILENAME stem>.flac`` (one per recording), ``recordings.csv``, ``phones.csv``,
``ema_labels_SYN-F.csv``, ``ema_labels_SYN-M.csv`` and ``manifest.json`` (settings, versions
and the sha256 of every other file). Audio files sit next to the tables (no subfolder) so the
package-data pattern ``data/sample/*`` ships them.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import json
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy.signal import resample_poly
from tutorial_utils.features import EMA_COLUMNS as COORDINATE_COLUMNS
from tutorial_utils.features import (
    EMA_SENSORS,
    EMA_TABLE_COLUMNS,
    FRAME_RATE_HZ,
    SAMPLE_RATE,
    n_model_frames,
)

from tutorial_utils.data import atomic_write, sha256_file

GENERATOR_NAME = "scripts/make_sample.py"
GENERATOR_VERSION = "1.0.0"
SEED = 20250817
DEFAULT_OUT_DIR = Path(__file__).resolve().parents[1] / "tutorial_utils" / "data" / "sample"

VTL_RATE = 44100
OUT_RATE = SAMPLE_RATE  # 16 kHz, the rate Wav2Vec2 expects
PEAK = 0.9
EMA_STEP_S = 1.0 / FRAME_RATE_HZ  # 20 ms, one EMA row per Wav2Vec2 frame
BLOCK, REPETITION, RATE_TAG = "B01", "R01", "N"

EMA_COLUMNS = list(EMA_TABLE_COLUMNS)
RECORDING_COLUMNS = [
    "PARTICIPANT",
    "FILENAME",
    "SENTENCE",
    "AUDIO_FILE",
    "N_SAMPLES",
    "SAMPLE_RATE",
]
PHONE_COLUMNS = ["PARTICIPANT", "FILENAME", "START_S", "END_S", "PHONE"]
SILENCE = "sil"

# English phone (ARPAbet, stress not marked; AX = schwa) -> (VocalTractLab SAMPA symbol,
# duration in ms at speaking rate 1.0). VocalTractLab only knows German phones, so every English
# phone gets the nearest German segment. Unknown symbols would be dropped or become schwa
# without an error, which verify_score() guards against.
ENGLISH_TO_VTL: dict[str, tuple[str, int]] = {
    # --- vowels ---
    "IY": ("i:", 125),  # /iː/ fleece: German long i
    "IH": ("I", 75),  # /ɪ/ kit: German short I
    "EY": ("e:", 140),  # /eɪ/ face: German long e (no diphthong in VTL's set)
    "EH": ("E", 85),  # /ɛ/ dress: German short E
    "AE": ("E", 110),  # /æ/ trap: no /æ/ in German; open-mid E, kept longer than /ɛ/
    "AH": ("a", 80),  # /ʌ/ strut: German short a
    "AA": ("a:", 140),  # /ɑː/ palm/start: German long a
    "AO": ("O", 110),  # /ɒ/ lot and /ɔː/ thought: German short open O (VTL has no O:)
    "UH": ("U", 75),  # /ʊ/ foot: German short U
    "UW": ("u:", 130),  # /uː/ goose: German long u
    "OW": ("o:", 140),  # /oʊ/ goat: German long o (monophthong)
    "AY": ("aI", 160),  # /aɪ/ price: German diphthong aI
    "AW": ("aU", 170),  # /aʊ/ mouth: German diphthong aU
    "AX": ("@", 50),  # /ə/ schwa: German schwa (the only intended schwa)
    # --- glides and liquids (English-only sounds get deliberate substitutes) ---
    "W": ("u", 45),  # /w/: VTL has no /w/ (it is silently dropped); a short u-vowel instead
    "R": ("R", 50),  # /r/ before a vowel: VTL's uvular fricative, a deliberate substitute for
    # the English approximant (VTL has none). /r/ after a vowel is not pronounced (non-rhotic
    # accent): see drop_postvocalic_r().
    "L": ("l", 60),  # /l/: alveolar lateral
    "Y": ("j", 55),  # /j/: palatal approximant
    # --- stops ---
    "P": ("p", 75),
    "B": ("b", 60),
    "T": ("t", 70),
    "D": ("d", 55),
    "K": ("k", 75),
    "G": ("g", 60),
    # --- affricates ---
    "CH": ("tS", 110),
    "JH": ("dZ", 100),
    # --- fricatives ---
    "F": ("f", 85),
    "V": ("v", 55),
    "TH": ("T", 85),  # /θ/: dental fricative
    "DH": ("D", 40),  # /ð/: dental fricative (short, as in function words)
    "S": ("s", 90),
    "Z": ("z", 65),
    "SH": ("S", 95),
    "ZH": ("Z", 70),
    "HH": ("h", 55),
    # --- nasals ---
    "M": ("m", 65),
    "N": ("n", 60),
    "NG": ("N", 65),
}
VOWELS = {"IY", "IH", "EY", "EH", "AE", "AH", "AA", "AO", "UH", "UW", "OW", "AY", "AW", "AX", "W"}
POSTVOCALIC_R_LENGTHENING = 1.3  # a vowel before a dropped /r/ is lengthened
FINAL_LENGTHENING = 1.25  # all segments of the last word of a sentence
JITTER_SIGMA = 0.07  # log-normal sd of per-segment duration jitter
MIN_SEGMENT_MS = 25
LEAD_SILENCE_MS = 180
TRAIL_SILENCE_MS = 220

SHARED_IDS = ["S18", "S33", "S04", "S52", "S42"]
EXTRA_IDS = ["S59", "S23", "S22", "S55", "S15"]
# Sentence id -> (text, hand-made ARPAbet transcription with words separated by "|").
SENTENCES: dict[str, tuple[str, str]] = {
    "S18": (
        "The soft cushion broke the man's fall.",
        "DH AX | S AO F T | K UH SH AX N | B R OW K | DH AX | M AE N Z | F AO L",
    ),
    "S33": (
        "Note closely the size of the gas tank.",
        "N OW T | K L OW S L IY | DH AX | S AY Z | AX V | DH AX | G AE S | T AE NG K",
    ),
    "S04": (
        "These days a chicken leg is a rare dish.",
        "DH IY Z | D EY Z | AX | CH IH K IH N | L EH G | IH Z | AX | R EH R | D IH SH",
    ),
    "S52": (
        "The crooked maze failed to fool the mouse.",
        "DH AX | K R UH K IH D | M EY Z | F EY L D | T AX | F UW L | DH AX | M AW S",
    ),
    "S42": (
        "The ship was torn apart on the sharp reef.",
        "DH AX | SH IH P | W AO Z | T AO R N | AX P AA R T | AO N | DH AX | SH AA R P | R IY F",
    ),
    "S59": (
        "Glue the sheet to the dark blue background.",
        "G L UW | DH AX | SH IY T | T AX | DH AX | D AA R K | B L UW | B AE K G R AW N D",
    ),
    "S23": (
        "It's easy to tell the depth of a well.",
        "IH T S | IY Z IY | T AX | T EH L | DH AX | D EH P TH | AX V | AX | W EH L",
    ),
    "S22": (
        "The juice of lemons makes fine punch.",
        "DH AX | JH UW S | AX V | L EH M AX N Z | M EY K S | F AY N | P AH N CH",
    ),
    "S55": (
        "The box was thrown beside the parked truck.",
        "DH AX | B AO K S | W AO Z | TH R OW N | B IH S AY D | DH AX | P AA R K T | T R AH K",
    ),
    "S15": (
        "A large size in stockings is hard to sell.",
        "AX | L AA R JH | S AY Z | IH N | S T AO K IH NG Z | IH Z | HH AA R D | T AX | S EH L",
    ),
}
ANATOMY_NOTE = (
    "set_anatomy_from_age was not used: in vocaltractlab-cython 0.0.17 (API 2.4.2) any anatomy "
    "change empties the speaker's shape list (the tract then stays neutral), and JD3's targets "
    "synthesised in a female or from-age male anatomy leave /k g N/ open and close /i:/."
)
EXTRA_TEXT_NOTE = (
    "Texts of S59, S23, S22, S55 and S15 are Harvard sentences chosen for this sample; they are "
    "not verified to be the Haskins database texts for those ids."
)


@dataclass(frozen=True)
class Speaker:
    """Settings of one synthetic speaker."""

    participant: str
    sex: str  # label only: both speakers use the JD3 (adult male) vocal tract
    rate_scale: float  # multiplies every segment duration (> 1 = slower)
    f0_offset_st: float  # added to every F0 target of the gestural score (semitones)
    sentence_ids: tuple[str, ...]


SPEAKERS = (
    Speaker("SYN-F", "female (voice label; JD3 tract)", 0.95, 9.0, tuple(EXTRA_IDS + SHARED_IDS)),
    Speaker("SYN-M", "male (JD3 tract)", 1.08, -1.0, tuple(SHARED_IDS)),
)

# (surface index, rib, point) of each virtual sensor; see the module docstring.
SENSOR_VERTICES: dict[str, tuple[int, int, int]] = {
    "TR": (16, 20, 5),
    "TB": (16, 25, 5),
    "TT": (16, 30, 5),
    "UL": (4, 8, 9),
    "LL": (5, 8, 9),
    "JAW": (1, 24, 2),
}
ORIGIN_VERTEX = (0, 24, 2)  # upper incisor edge
MIDLINE_TOLERANCE_CM = 0.15  # sensors must stay within 1.5 mm of the midsagittal plane
CONSONANT_TIERS = ("lip-gestures", "tongue-tip-gestures", "tongue-body-gestures")
SEQUENCE_RE = re.compile(r'<gesture_sequence type="([^"]+)"[^>]*>(.*?)</gesture_sequence>', re.S)
GESTURE_RE = re.compile(r'<gesture value="([^"]*)"[^>]*duration_s="([^"]+)"[^>]*neutral="(\d)"')
MIN_GESTURE_S = 0.015  # a kept consonant gesture must last at least this long in the score
F0_BLOCK_RE = re.compile(
    r'(<gesture_sequence type="f0-gestures"[^>]*>)(.*?)(</gesture_sequence>)', re.S
)


# --------------------------------------------------------------------------------------------
# Phone sequences
# --------------------------------------------------------------------------------------------
def parse_words(transcription: str) -> list[list[str]]:
    """Split an ARPAbet transcription into words.

    Parameters
    ----------
    transcription : str
        Phones separated by spaces, words separated by ``|``.

    Returns
    -------
    list of list of str
        One list of ARPAbet phones per word.
    """
    return [word.split() for word in transcription.split("|")]


def drop_postvocalic_r(word: list[str]) -> list[tuple[str, float]]:
    """Remove /r/ after a vowel (non-rhotic accent) and lengthen that vowel.

    Parameters
    ----------
    word : list of str
        ARPAbet phones of one word.

    Returns
    -------
    list of (str, float)
        Remaining phones with a duration factor (1.0, or the lengthening factor for a vowel
        that lost its following /r/).
    """
    out: list[tuple[str, float]] = []
    for i, phone in enumerate(word):
        next_phone = word[i + 1] if i + 1 < len(word) else None
        after_vowel = bool(out) and out[-1][0] in VOWELS
        if phone == "R" and after_vowel and (next_phone is None or next_phone not in VOWELS):
            out[-1] = (out[-1][0], POSTVOCALIC_R_LENGTHENING)
            continue
        out.append((phone, 1.0))
    return out


def segment_durations(
    sentence_id: str, speaker: Speaker, speaker_index: int
) -> list[tuple[str, int]]:
    """Build the VocalTractLab segment sequence of one recording.

    Parameters
    ----------
    sentence_id : str
        Key of :data:`SENTENCES`.
    speaker : Speaker
        Provides the speaking-rate scale.
    speaker_index : int
        Seeds the jitter together with :data:`SEED` and the sentence id.

    Returns
    -------
    list of (str, int)
        ``(VTL symbol, duration in ms)``; silence is ``""``.
    """
    seed = [SEED, speaker_index, int(sentence_id[1:])]
    rng = np.random.default_rng(seed)
    words = parse_words(SENTENCES[sentence_id][1])
    segments: list[tuple[str, int]] = [("", jittered(LEAD_SILENCE_MS, 1.0, rng))]
    for w, word in enumerate(words):
        final = FINAL_LENGTHENING if w == len(words) - 1 else 1.0
        for phone, factor in drop_postvocalic_r(word):
            symbol, base_ms = ENGLISH_TO_VTL[phone]
            segments.append((symbol, jittered(base_ms, factor * final * speaker.rate_scale, rng)))
    segments.append(("", jittered(TRAIL_SILENCE_MS, 1.0, rng)))
    return segments


def jittered(base_ms: float, scale: float, rng: np.random.Generator) -> int:
    """Scale a duration and apply log-normal jitter, rounded to whole milliseconds.

    Parameters
    ----------
    base_ms : float
        Table duration in ms.
    scale : float
        Product of rate scale and lengthening factors.
    rng : numpy.random.Generator
        Seeded generator.

    Returns
    -------
    int
        Duration in ms, at least :data:`MIN_SEGMENT_MS`.
    """
    value = base_ms * scale * float(np.exp(rng.normal(0.0, JITTER_SIGMA)))
    return max(MIN_SEGMENT_MS, int(round(value)))


def phoneme_file_text(segments: list[tuple[str, int]]) -> str:
    """Format segments as a VocalTractLab phoneme (segment sequence) file.

    Parameters
    ----------
    segments : list of (str, int)
        ``(symbol, duration in ms)``.

    Returns
    -------
    str
        One ``name = X; duration_s = 0.123;`` line per segment.
    """
    return "".join(f"name = {s}; duration_s = {ms / 1000:.3f};\n" for s, ms in segments)


# --------------------------------------------------------------------------------------------
# Gestural scores
# --------------------------------------------------------------------------------------------
def read_tiers(score_text: str) -> dict[str, list[tuple[str, float, bool]]]:
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
    tiers = {}
    for match in SEQUENCE_RE.finditer(score_text):
        gestures = GESTURE_RE.findall(match.group(2))
        tiers[match.group(1)] = [(v, float(d), n == "1") for v, d, n in gestures]
    return tiers


def vowel_names(tiers: dict[str, list[tuple[str, float, bool]]]) -> list[str]:
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
    names = [value for value, _, _ in tiers["vowel-gestures"]]
    if names and names[-1] == "@":
        names = names[:-1]
    return names


def consonant_gestures(tiers: dict[str, list[tuple[str, float, bool]]]) -> dict[str, list[str]]:
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


def score_for(segments: list[tuple[str, int]], work: Path, stem: str) -> Path:
    """Write a phoneme file and convert it to a gestural score.

    Parameters
    ----------
    segments : list of (str, int)
        ``(symbol, duration in ms)``.
    work : Path
        Scratch directory.
    stem : str
        File name stem.

    Returns
    -------
    Path
        The ``.ges`` file.
    """
    import vocaltractlab_cython as vtl

    phon = work / f"{stem}.txt"
    ges = work / f"{stem}.ges"
    phon.write_text(phoneme_file_text(segments))
    vtl.phoneme_file_to_gesture_file(str(phon), str(ges))
    return ges


def probe_symbol(symbol: str, is_vowel: bool, work: Path) -> dict[str, list[str]]:
    """Find the gestures VocalTractLab makes for one symbol, and fail if it ignores it.

    A vowel is probed between two ``t``, a consonant between two ``a``.

    Parameters
    ----------
    symbol : str
        VocalTractLab SAMPA symbol.
    is_vowel : bool
        Whether the symbol is meant as a vowel.
    work : Path
        Scratch directory.

    Returns
    -------
    dict
        ``{"vowel-gestures": [...], <consonant tiers>: [...]}`` produced by this symbol.

    Raises
    ------
    RuntimeError
        If the symbol produced no gesture of its kind or turned into a schwa.
    """
    frame = ("t", 80) if is_vowel else ("a", 100)
    segments = [("", 100), frame, (symbol, 90), frame, ("", 100)]
    tiers = read_tiers(score_for(segments, work, "probe").read_text())
    vowels = vowel_names(tiers)
    consonants = consonant_gestures(tiers)
    if is_vowel:
        kept = bool(vowels) and (vowels != ["@"] or symbol == "@")
        signature = {"vowel-gestures": vowels}
        signature.update({t: [] for t in CONSONANT_TIERS})
    else:
        glottal = [v for v, _, _ in tiers["glottal-shape-gestures"] if v != "modal"]
        kept = vowels == ["a", "a"] and (any(consonants.values()) or bool(glottal))
        signature = {"vowel-gestures": [], **consonants}
    if not kept:
        raise RuntimeError(f"VocalTractLab did not keep symbol {symbol!r}: {tiers}")
    return signature


def probe_all(work: Path) -> dict[str, dict[str, list[str]]]:
    """Probe every VocalTractLab symbol used by :data:`ENGLISH_TO_VTL`.

    Parameters
    ----------
    work : Path
        Scratch directory.

    Returns
    -------
    dict
        Symbol -> gesture signature (see :func:`probe_symbol`).
    """
    kinds = {symbol: phone in VOWELS for phone, (symbol, _) in ENGLISH_TO_VTL.items()}
    return {symbol: probe_symbol(symbol, is_vowel, work) for symbol, is_vowel in kinds.items()}


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
    tiers: dict[str, list[tuple[str, float, bool]]],
    segments: list[tuple[str, int]],
    signatures: dict[str, dict[str, list[str]]],
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
        Output of :func:`probe_all`.

    Raises
    ------
    RuntimeError
        If a vowel or consonant gesture is missing, extra, too short or became a schwa.
    """
    expected = {"vowel-gestures": [], **{t: [] for t in CONSONANT_TIERS}}
    for symbol, _ in segments:
        for tier, values in signatures.get(symbol, {}).items():
            expected[tier].extend(values)
    vowels = vowel_names(tiers)
    if vowels != expected["vowel-gestures"]:
        raise RuntimeError(f"vowels: expected {expected['vowel-gestures']}, got {vowels}")
    for tier in CONSONANT_TIERS:
        observed = [(v, d) for v, d, neutral in tiers[tier] if not neutral]
        check_consonant_tier(tier, expected[tier], observed)


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
        The modified score.
    """

    def shift_block(match: re.Match[str]) -> str:
        body = re.sub(
            r'value="([-0-9.]+)"',
            lambda m: f'value="{float(m.group(1)) + offset_st:.6f}"',
            match.group(2),
        )
        return match.group(1) + body + match.group(3)

    return F0_BLOCK_RE.sub(shift_block, score_text)


def read_tract_states(motor_file: Path) -> np.ndarray:
    """Read the vocal tract parameters from a VocalTractLab motor (tract sequence) file.

    Parameters
    ----------
    motor_file : Path
        File written by ``gesture_file_to_motor_file``.

    Returns
    -------
    numpy.ndarray
        ``(n_states, n_tract_params)``, one state per 110 samples at 44.1 kHz.
    """
    lines = [ln for ln in motor_file.read_text().splitlines() if ln and not ln.startswith("#")]
    n_states = int(lines[1])
    tract = [np.array(lines[3 + 2 * k].split(), dtype=float) for k in range(n_states)]
    return np.vstack(tract)


# --------------------------------------------------------------------------------------------
# Audio and EMA
# --------------------------------------------------------------------------------------------
def to_16k_int16(audio_44k: np.ndarray) -> tuple[np.ndarray, float]:
    """Resample to 16 kHz, peak-normalise to :data:`PEAK` and quantise to int16.

    Parameters
    ----------
    audio_44k : numpy.ndarray
        VocalTractLab output at 44.1 kHz.

    Returns
    -------
    audio : numpy.ndarray
        int16 samples at 16 kHz.
    gain : float
        Factor applied to the resampled float signal before quantisation.
    """
    resampled = resample_poly(np.asarray(audio_44k, dtype=np.float64), 160, 441)
    gain = PEAK / float(np.max(np.abs(resampled)))
    return np.round(resampled * gain * 32767.0).astype(np.int16), gain


def states_at(states: np.ndarray, times_s: np.ndarray, state_rate: float) -> np.ndarray:
    """Linearly interpolate tract states to given times.

    Parameters
    ----------
    states : numpy.ndarray
        ``(n_states, n_params)``; state ``k`` is at ``k / state_rate`` seconds.
    times_s : numpy.ndarray
        Query times in seconds.
    state_rate : float
        States per second (about 400.9).

    Returns
    -------
    numpy.ndarray
        ``(len(times_s), n_params)``.
    """
    grid = np.arange(states.shape[0]) / state_rate
    return np.column_stack([np.interp(times_s, grid, states[:, j]) for j in range(states.shape[1])])


def surface_points(tract_state: np.ndarray) -> dict[int, np.ndarray]:
    """Mesh vertices (cm) of every surface used by a sensor or the origin.

    Parameters
    ----------
    tract_state : numpy.ndarray
        The 19 tract parameters.

    Returns
    -------
    dict
        Surface index -> ``(ribs, points, 3)`` array of ``(x, y, z)``.
    """
    import vocaltractlab_cython as vtl

    surfaces = {where[0] for where in SENSOR_VERTICES.values()} | {ORIGIN_VERTEX[0]}
    return {index: vtl.get_surface_vertices(tract_state, index) for index in sorted(surfaces)}


def sensor_frame(tract_state: np.ndarray, origin: np.ndarray) -> list[float]:
    """Virtual EMA sensor coordinates (mm) for one tract state.

    Parameters
    ----------
    tract_state : numpy.ndarray
        The 19 tract parameters.
    origin : numpy.ndarray
        Upper incisor edge ``(x, y, z)`` in cm.

    Returns
    -------
    list of float
        ``[TR_X, TR_Y, TB_X, ..., JAW_Y]`` in millimetres (X anterior, Y vertical).

    Raises
    ------
    RuntimeError
        If a sensor vertex is more than :data:`MIDLINE_TOLERANCE_CM` off the midline.
    """
    points = surface_points(tract_state)
    values = []
    for name in EMA_SENSORS:
        surface, rib, point = SENSOR_VERTICES[name]
        xyz = points[surface][rib, point]
        if abs(xyz[2]) > MIDLINE_TOLERANCE_CM:
            raise RuntimeError(f"sensor {name} is off the midsagittal plane (z = {xyz[2]} cm)")
        values.extend(((xyz[:2] - origin[:2]) * 10.0).tolist())
    return values


def ema_table(
    filename: str, sentence: str, states: np.ndarray, n_frames: int, origin: np.ndarray
) -> pd.DataFrame:
    """EMA rows of one recording on the 20 ms grid.

    Parameters
    ----------
    filename, sentence : str
        Values of the ``FILENAME`` and ``SENTENCE`` columns.
    states : numpy.ndarray
        Tract states of the recording.
    n_frames : int
        Number of rows (row ``t`` is at ``t * 20 ms``).
    origin : numpy.ndarray
        Upper incisor edge in cm.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`EMA_COLUMNS`, coordinates rounded to 2 decimals.
    """
    import vocaltractlab_cython as vtl

    state_rate = vtl.get_constants()["sr_internal"]
    frames = states_at(states, np.arange(n_frames) * EMA_STEP_S, state_rate)
    coords = np.round(np.array([sensor_frame(s, origin) for s in frames]), 2)
    table = pd.DataFrame(coords, columns=list(COORDINATE_COLUMNS))
    table.insert(0, "TIMESTEP", np.arange(n_frames))
    table.insert(0, "SENTENCE", sentence)
    table.insert(0, "FILENAME", filename)
    return table


def phone_rows(participant: str, filename: str, segments: list[tuple[str, int]]) -> list[dict]:
    """Phone label rows with start and end times in seconds.

    Parameters
    ----------
    participant, filename : str
        Identifiers.
    segments : list of (str, int)
        ``(symbol, duration in ms)``; ``""`` is written as ``sil``.

    Returns
    -------
    list of dict
        One row per segment, columns :data:`PHONE_COLUMNS`.
    """
    rows, start_ms = [], 0
    for symbol, ms in segments:
        rows.append(
            {
                "PARTICIPANT": participant,
                "FILENAME": filename,
                "START_S": start_ms / 1000,
                "END_S": (start_ms + ms) / 1000,
                "PHONE": symbol or SILENCE,
            }
        )
        start_ms += ms
    return rows


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write bytes atomically with :func:`tutorial_utils.data.atomic_write`."""
    atomic_write(path, lambda handle: handle.write(data))


def flac_bytes(audio: np.ndarray) -> bytes:
    """Encode int16 audio at 16 kHz as FLAC.

    Parameters
    ----------
    audio : numpy.ndarray
        int16 samples.

    Returns
    -------
    bytes
        The FLAC file.
    """
    buffer = io.BytesIO()
    sf.write(buffer, audio, OUT_RATE, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def csv_bytes(table: pd.DataFrame) -> bytes:
    """Serialise a table as CSV without index (``\\n`` line ends).

    Parameters
    ----------
    table : pandas.DataFrame
        Table to write.

    Returns
    -------
    bytes
        UTF-8 CSV.
    """
    return table.to_csv(index=False, lineterminator="\n", float_format="%.3f").encode()


def ema_csv_bytes(table: pd.DataFrame) -> bytes:
    """Serialise an EMA table with 2-decimal coordinates.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns :data:`EMA_COLUMNS`.

    Returns
    -------
    bytes
        UTF-8 CSV.
    """
    return table.to_csv(index=False, lineterminator="\n", float_format="%.2f").encode()


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------
def recording_filename(participant: str, sentence_id: str) -> str:
    """Identifier in the real data's pattern, e.g. ``SYN-F_B01_S18_R01_N.mat``.

    Parameters
    ----------
    participant, sentence_id : str
        Speaker and sentence ids.

    Returns
    -------
    str
        The ``FILENAME`` value (an identifier; no ``.mat`` file exists).
    """
    return f"{participant}_{BLOCK}_{sentence_id}_{REPETITION}_{RATE_TAG}.mat"


def incisor_origin() -> np.ndarray:
    """Upper incisor edge of the loaded vocal tract (the EMA origin).

    Returns
    -------
    numpy.ndarray
        ``(x, y, z)`` in cm; the upper teeth never move, so any tract state gives the same point.
    """
    import vocaltractlab_cython as vtl

    neutral = np.array([p["standard"] for p in vtl.get_param_info("tract")], dtype=float)
    return surface_points(neutral)[ORIGIN_VERTEX[0]][ORIGIN_VERTEX[1], ORIGIN_VERTEX[2]]


def synthesise(
    speaker: Speaker,
    speaker_index: int,
    sentence_id: str,
    signatures: dict[str, dict[str, list[str]]],
    work: Path,
) -> dict:
    """Synthesise one recording and return its audio, states and labels.

    Parameters
    ----------
    speaker : Speaker
        Speaker settings.
    speaker_index : int
        Seeds the duration jitter.
    sentence_id : str
        Key of :data:`SENTENCES`.
    signatures : dict
        Output of :func:`probe_all`.
    work : Path
        Scratch directory.

    Returns
    -------
    dict
        Keys ``segments``, ``audio`` (int16, 16 kHz), ``gain``, ``states``.
    """
    import vocaltractlab_cython as vtl

    segments = segment_durations(sentence_id, speaker, speaker_index)
    stem = f"{speaker.participant}_{sentence_id}"
    ges = score_for(segments, work, stem)
    score = ges.read_text()
    verify_score(read_tiers(score), segments, signatures)
    shifted = work / f"{stem}_f0.ges"
    shifted.write_text(shift_f0(score, speaker.f0_offset_st))
    motor = work / f"{stem}.motor"
    vtl.gesture_file_to_motor_file(str(shifted), str(motor))
    audio, gain = to_16k_int16(vtl.gesture_file_to_audio(str(shifted)))
    return {"segments": segments, "audio": audio, "gain": gain, "states": read_tract_states(motor)}


def remove_stale_audio(out_dir: Path, keep: set[str]) -> None:
    """Delete FLAC files in ``out_dir`` that this run did not write.

    Parameters
    ----------
    out_dir : Path
        Sample folder.
    keep : set of str
        File names written by this run.
    """
    for path in out_dir.glob("*.flac"):
        if path.name not in keep:
            path.unlink()


def sanity_report(ema: pd.DataFrame, phones: pd.DataFrame) -> None:
    """Print per-sensor movement and tongue-tip vs jaw movement during /t d n s/.

    Parameters
    ----------
    ema : pandas.DataFrame
        EMA table of one speaker.
    phones : pandas.DataFrame
        Phone table (all speakers).
    """
    stds = ema[list(COORDINATE_COLUMNS)].std()
    print("  per-column std (mm): " + ", ".join(f"{c} {v:.2f}" for c, v in stds.items()))
    tt, jaw = [], []
    for filename, frames in ema.groupby("FILENAME", sort=False):
        labels = phones[phones["FILENAME"] == filename]
        alveolar = labels[labels["PHONE"].isin(["t", "d", "n", "s"])]
        times = frames["TIMESTEP"].to_numpy() * EMA_STEP_S
        mask = np.zeros(len(times), dtype=bool)
        for start, end in zip(alveolar["START_S"], alveolar["END_S"], strict=True):
            mask |= (times >= start) & (times < end)
        tt.append(np.mean(frames["TT_Y"].to_numpy()[mask] - frames["TT_Y"].median()))
        jaw.append(np.mean(frames["JAW_Y"].to_numpy()[mask] - frames["JAW_Y"].median()))
    print(
        f"  mean rise above median during /t d n s/: TT_Y {np.mean(tt):.2f} mm, "
        f"JAW_Y {np.mean(jaw):.2f} mm"
    )


def manifest_dict(recordings: list[dict], files: dict[str, str]) -> dict:
    """Assemble the manifest.

    Parameters
    ----------
    recordings : list of dict
        Per-recording facts.
    files : dict
        Relative file name -> sha256.

    Returns
    -------
    dict
        JSON-serialisable manifest.
    """
    import scipy
    import vocaltractlab_cython as vtl

    return {
        "statement": "synthetic: VocalTractLab speech",
        "generator": {"name": GENERATOR_NAME, "version": GENERATOR_VERSION},
        "vocaltractlab_cython_version": importlib.metadata.version("vocaltractlab-cython"),
        "vtl_api_version": vtl.get_version(),
        "vtl_speaker_file": "JD3.speaker (bundled adult male), anatomy unchanged for both",
        "anatomy_note": ANATOMY_NOTE,
        "library_versions": {
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "soundfile": sf.__version__,
            "libsndfile": sf.__libsndfile_version__,
        },
        "seed": SEED,
        "sample_rate": OUT_RATE,
        "audio": {
            "synthesis_rate": VTL_RATE,
            "resampling": "scipy.signal.resample_poly(x, 160, 441)",
            "peak": PEAK,
            "format": "FLAC, 16-bit PCM, mono",
        },
        "speakers": [speaker_entry(s) for s in SPEAKERS],
        "sentences": [
            {
                "id": sid,
                "text": SENTENCES[sid][0],
                "arpabet": SENTENCES[sid][1],
                "speakers": [s.participant for s in SPEAKERS if sid in s.sentence_ids],
            }
            for sid in EXTRA_IDS + SHARED_IDS
        ],
        "sentence_text_note": EXTRA_TEXT_NOTE,
        "block": BLOCK,
        "repetition": REPETITION,
        "rate": RATE_TAG,
        "english_to_vtl": {k: v[0] for k, v in ENGLISH_TO_VTL.items()},
        "postvocalic_r": "dropped (non-rhotic); preceding vowel lengthened x1.3",
        "ema_convention": ema_convention(),
        "recordings": recordings,
        "files": files,
    }


def speaker_entry(speaker: Speaker) -> dict:
    """Manifest entry of one speaker.

    Parameters
    ----------
    speaker : Speaker
        Speaker settings.

    Returns
    -------
    dict
        JSON-serialisable settings.
    """
    return {
        "participant": speaker.participant,
        "sex": speaker.sex,
        "anatomy": "JD3 (VocalTractLab default adult male), unchanged",
        "rate_scale": speaker.rate_scale,
        "duration_jitter_lognormal_sd": JITTER_SIGMA,
        "f0_offset_semitones": speaker.f0_offset_st,
        "f0_note": "offset added to every F0 target of VTL's default F0 tier",
        "sentence_ids": list(speaker.sentence_ids),
    }


def ema_convention() -> dict:
    """Manifest description of the virtual EMA.

    Returns
    -------
    dict
        Units, axes, origin, frame grid and sensor vertices.
    """
    return {
        "units": "mm",
        "x_axis": "posterior -> anterior (positive towards the lips)",
        "y_axis": "VERTICAL (positive up); in the real ema_labels_F02.csv _Y is lateral",
        "origin": "upper incisor edge (VTL upper-teeth surface 0, rib 24, point 2)",
        "frame_rate_hz": 50,
        "row_time": "row t is the tract state at t * 20 ms (linear interpolation of states)",
        "rows_per_file": "floor((N16k - 400) / 320) + 1 (= number of Wav2Vec2 frames)",
        "decimals": 2,
        "sensors": {
            name: {"vtl_surface": s, "rib": r, "point": p}
            for name, (s, r, p) in SENSOR_VERTICES.items()
        },
        "sensor_meaning": {
            "TR": "tongue rear/dorsum",
            "TB": "tongue blade",
            "TT": "tongue tip",
            "UL": "upper lip",
            "LL": "lower lip",
            "JAW": "lower incisor",
        },
    }


def make_recording(
    speaker: Speaker,
    speaker_index: int,
    sentence_id: str,
    signatures: dict[str, dict[str, list[str]]],
    work: Path,
    out_dir: Path,
    origin: np.ndarray,
) -> tuple[dict, pd.DataFrame, list[dict]]:
    """Synthesise one recording, write its FLAC file and return its table rows.

    Parameters
    ----------
    speaker : Speaker
        Speaker settings.
    speaker_index : int
        Seeds the duration jitter.
    sentence_id : str
        Key of :data:`SENTENCES`.
    signatures : dict
        Output of :func:`probe_all`.
    work : Path
        Scratch directory.
    out_dir : Path
        Sample folder.
    origin : numpy.ndarray
        Upper incisor edge of this speaker (cm).

    Returns
    -------
    record : dict
        ``recordings.csv`` row plus manifest extras.
    ema : pandas.DataFrame
        EMA rows of the recording.
    phones : list of dict
        Phone rows of the recording.
    """
    started = time.perf_counter()
    result = synthesise(speaker, speaker_index, sentence_id, signatures, work)
    filename = recording_filename(speaker.participant, sentence_id)
    text = SENTENCES[sentence_id][0]
    audio_name = filename.replace(".mat", ".flac")
    atomic_write_bytes(out_dir / audio_name, flac_bytes(result["audio"]))
    n = len(result["audio"])
    n_frames = n_model_frames(n)
    ema = ema_table(filename, text, result["states"], n_frames, origin)
    rms = float(np.sqrt(np.mean((result["audio"] / 32768.0) ** 2)))
    record = {
        "PARTICIPANT": speaker.participant,
        "FILENAME": filename,
        "SENTENCE": text,
        "AUDIO_FILE": audio_name,
        "N_SAMPLES": n,
        "SAMPLE_RATE": OUT_RATE,
        "duration_s": n / OUT_RATE,
        "n_ema_frames": n_frames,
        "gain": round(result["gain"], 6),
        "rms": round(rms, 6),
    }
    print(
        f"{filename}: {n / OUT_RATE:.2f} s, {n} samples, {n_frames} EMA frames, RMS {rms:.3f}, "
        f"gain {result['gain']:.2f}, made in {time.perf_counter() - started:.1f} s"
    )
    return record, ema, phone_rows(speaker.participant, filename, result["segments"])


def run(out_dir: Path, keep_work: bool) -> None:
    """Synthesise all recordings and write the sample.

    Parameters
    ----------
    out_dir : Path
        Destination folder (created if missing).
    keep_work : bool
        Keep VocalTractLab's intermediate files (their folder is printed).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="make_sample_"))
    signatures = probe_all(work)
    origin = incisor_origin()
    recordings, phones, ema_tables = [], [], {}
    for index, speaker in enumerate(SPEAKERS):
        tables = []
        for sid in speaker.sentence_ids:
            record, ema, rows = make_recording(
                speaker, index, sid, signatures, work, out_dir, origin
            )
            recordings.append(record)
            tables.append(ema)
            phones.extend(rows)
        ema_tables[speaker.participant] = pd.concat(tables, ignore_index=True)
    remove_stale_audio(out_dir, {r["AUDIO_FILE"] for r in recordings})
    write_tables(out_dir, recordings, phones, ema_tables)
    if keep_work:
        print(f"VocalTractLab files kept in {work}")
    else:
        shutil.rmtree(work)


def write_tables(
    out_dir: Path, recordings: list[dict], phones: list[dict], ema: dict[str, pd.DataFrame]
) -> None:
    """Write the CSV tables and the manifest, and print the sanity report.

    Parameters
    ----------
    out_dir : Path
        Sample folder.
    recordings : list of dict
        Per-recording facts (table columns plus extras for the manifest).
    phones : list of dict
        Phone rows.
    ema : dict
        Participant -> EMA table.
    """
    phone_table = pd.DataFrame(phones, columns=PHONE_COLUMNS)
    atomic_write_bytes(
        out_dir / "recordings.csv", csv_bytes(pd.DataFrame(recordings)[RECORDING_COLUMNS])
    )
    atomic_write_bytes(out_dir / "phones.csv", csv_bytes(phone_table))
    for participant, table in ema.items():
        atomic_write_bytes(out_dir / f"ema_labels_{participant}.csv", ema_csv_bytes(table))
        print(f"{participant}:")
        sanity_report(table, phone_table)
    files = {
        p.name: sha256_file(p)
        for p in sorted(out_dir.iterdir())
        if p.is_file() and p.name != "manifest.json" and not p.name.startswith(".")
    }
    manifest = manifest_dict(recordings, files)
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    atomic_write_bytes(out_dir / "manifest.json", text.encode())
    total = sum((out_dir / name).stat().st_size for name in files) + len(text.encode())
    print(f"wrote {len(files) + 1} files, {total / 1e6:.2f} MB, to {out_dir}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse command-line arguments.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    argparse.Namespace
        ``out_dir`` and ``keep_work``.
    """
    parser = argparse.ArgumentParser(
        description="Regenerate tutorial_utils/data/sample (synthetic VocalTractLab speech, "
        "virtual EMA, phone labels). Needs vocaltractlab-cython (GPL-3, 'sample' extra).",
    )
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="output folder")
    parser.add_argument(
        "--keep-work", action="store_true", help="keep VocalTractLab's intermediate files"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    Parameters
    ----------
    argv : list of str, optional
        Arguments.

    Returns
    -------
    int
        Exit status.
    """
    args = parse_args(argv)
    run(args.out_dir, args.keep_work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
