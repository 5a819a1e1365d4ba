"""The synthetic speakers, the sentences they read and the names of their recordings.

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
"""

from __future__ import annotations

from dataclasses import dataclass

SEED = 20250817
BLOCK, REPETITION, RATE_TAG = "B01", "R01", "N"

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
    """Settings of one synthetic speaker.

    Attributes
    ----------
    participant : str
        Participant id, e.g. ``"SYN-F"``.
    sex : str
        Label only: both speakers use the JD3 (adult male) vocal tract.
    rate_scale : float
        Multiplies every segment duration (> 1 = slower).
    f0_offset_st : float
        Added to every F0 target of the gestural score (semitones).
    sentence_ids : tuple of str
        Keys of :data:`SENTENCES` this speaker reads, in recording order.
    """

    participant: str
    sex: str
    rate_scale: float
    f0_offset_st: float
    sentence_ids: tuple[str, ...]


SPEAKERS = (
    Speaker("SYN-F", "female (voice label; JD3 tract)", 0.95, 9.0, tuple(EXTRA_IDS + SHARED_IDS)),
    Speaker("SYN-M", "male (JD3 tract)", 1.08, -1.0, tuple(SHARED_IDS)),
)


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
