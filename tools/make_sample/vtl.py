"""Drive VocalTractLab: phoneme file -> gestural score -> tract states and audio.

Facts of vocaltractlab-cython 0.0.17 (API 2.4.2) this module relies on: audio at 44 100 Hz,
one tract/glottis state every 110 samples (about 400.9 states/s, ``sr_internal``), 19 tract
parameters; the motor file has a 2-line header (glottis model, number of states), then two
lines per state (glottis parameters, tract parameters).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from .corpus import Speaker
from .phones import ENGLISH_TO_VTL, VOWELS, phoneme_file_text, segment_durations
from .score import Signature, probe_signature, read_tiers, shift_f0, verify_score

try:
    import vocaltractlab_cython as vtl
except ModuleNotFoundError as error:  # the tutorial package never needs it
    raise ModuleNotFoundError(
        "tools.make_sample needs vocaltractlab-cython (GPL-3): run `make sample`, or "
        "pip install -e '.[sample]' in a separate environment."
    ) from error

VTL_RATE = 44100
PEAK = 0.9


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
    phon = work / f"{stem}.txt"
    ges = work / f"{stem}.ges"
    phon.write_text(phoneme_file_text(segments))
    vtl.phoneme_file_to_gesture_file(str(phon), str(ges))
    return ges


def probe_symbol(symbol: str, is_vowel: bool, work: Path) -> Signature:
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
        See :func:`tools.make_sample.score.probe_signature`.
    """
    frame = ("t", 80) if is_vowel else ("a", 100)
    segments = [("", 100), frame, (symbol, 90), frame, ("", 100)]
    tiers = read_tiers(score_for(segments, work, "probe").read_text())
    return probe_signature(symbol, is_vowel, tiers)


def probe_all(work: Path) -> dict[str, Signature]:
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


def synthesise(
    speaker: Speaker,
    speaker_index: int,
    sentence_id: str,
    signatures: dict[str, Signature],
    work: Path,
) -> dict:
    """Synthesise one recording and return its audio, states and segments.

    Parameters
    ----------
    speaker : Speaker
        Speaker settings.
    speaker_index : int
        Seeds the duration jitter.
    sentence_id : str
        Key of :data:`tools.make_sample.corpus.SENTENCES`.
    signatures : dict
        Output of :func:`probe_all`.
    work : Path
        Scratch directory.

    Returns
    -------
    dict
        Keys ``segments``, ``audio`` (int16, 16 kHz), ``gain``, ``states``.
    """
    segments = segment_durations(sentence_id, speaker, speaker_index)
    stem = f"{speaker.participant}_{sentence_id}"
    score = score_for(segments, work, stem).read_text()
    verify_score(read_tiers(score), segments, signatures)
    shifted = work / f"{stem}_f0.ges"
    shifted.write_text(shift_f0(score, speaker.f0_offset_st))
    motor = work / f"{stem}.motor"
    vtl.gesture_file_to_motor_file(str(shifted), str(motor))
    audio, gain = to_16k_int16(vtl.gesture_file_to_audio(str(shifted)))
    return {"segments": segments, "audio": audio, "gain": gain, "states": read_tract_states(motor)}


def neutral_tract_state() -> np.ndarray:
    """The standard (neutral) value of every tract parameter of the loaded speaker.

    Returns
    -------
    numpy.ndarray
        The 19 tract parameters.
    """
    return np.array([p["standard"] for p in vtl.get_param_info("tract")], dtype=float)


def state_rate() -> float:
    """Tract states per second (about 400.9).

    Returns
    -------
    float
        VocalTractLab's internal state rate.
    """
    return vtl.get_constants()["sr_internal"]


def surfaces(tract_state: np.ndarray, indices: list[int]) -> dict[int, np.ndarray]:
    """Mesh vertices (cm) of some surfaces of the vocal tract in one state.

    Parameters
    ----------
    tract_state : numpy.ndarray
        The 19 tract parameters.
    indices : list of int
        VocalTractLab surface indices (0-31).

    Returns
    -------
    dict
        Surface index -> ``(ribs, points, 3)`` array of ``(x, y, z)``.
    """
    return {index: vtl.get_surface_vertices(tract_state, index) for index in indices}


def versions() -> dict[str, str]:
    """The vocaltractlab-cython package version and VocalTractLab API version.

    Returns
    -------
    dict
        ``vocaltractlab_cython_version`` and ``vtl_api_version``.
    """
    return {
        "vocaltractlab_cython_version": importlib.metadata.version("vocaltractlab-cython"),
        "vtl_api_version": vtl.get_version(),
    }
