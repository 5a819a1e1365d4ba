"""Sentence transcriptions -> VocalTractLab segment sequences, phoneme files and phone labels.

VocalTractLab only knows German SAMPA phones and **silently** turns an unknown symbol into a
schwa (or drops it), so every English phone gets a deliberate German substitute in
:data:`ENGLISH_TO_VTL`; :mod:`tools.make_sample.score` checks the result.
"""

from __future__ import annotations

import numpy as np

from .corpus import SEED, SENTENCES, Speaker

SILENCE = "sil"
PHONE_COLUMNS = ["PARTICIPANT", "FILENAME", "START_S", "END_S", "PHONE"]

# English phone (ARPAbet, stress not marked; AX = schwa) -> (VocalTractLab SAMPA symbol,
# duration in ms at speaking rate 1.0). VocalTractLab only knows German phones, so every English
# phone gets the nearest German segment. Unknown symbols would be dropped or become schwa
# without an error, which score.verify_score() guards against.
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


def segment_durations(
    sentence_id: str, speaker: Speaker, speaker_index: int
) -> list[tuple[str, int]]:
    """Build the VocalTractLab segment sequence of one recording.

    Parameters
    ----------
    sentence_id : str
        Key of :data:`tools.make_sample.corpus.SENTENCES`.
    speaker : Speaker
        Provides the speaking-rate scale.
    speaker_index : int
        Seeds the jitter together with :data:`tools.make_sample.corpus.SEED` and the
        sentence id.

    Returns
    -------
    list of (str, int)
        ``(VTL symbol, duration in ms)``; silence is ``""``.
    """
    rng = np.random.default_rng([SEED, speaker_index, int(sentence_id[1:])])
    words = parse_words(SENTENCES[sentence_id][1])
    segments: list[tuple[str, int]] = [("", jittered(LEAD_SILENCE_MS, 1.0, rng))]
    for w, word in enumerate(words):
        final = FINAL_LENGTHENING if w == len(words) - 1 else 1.0
        for phone, factor in drop_postvocalic_r(word):
            symbol, base_ms = ENGLISH_TO_VTL[phone]
            segments.append((symbol, jittered(base_ms, factor * final * speaker.rate_scale, rng)))
    segments.append(("", jittered(TRAIL_SILENCE_MS, 1.0, rng)))
    return segments


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
