"""Reading the original files: every bad file or value is one clear message naming the file.

Issue 11, items 4, 6 and 7 at the reader level (the command line is in ``test_convert.py``).
All fixtures are written in the real formats: pandas-pickled DataFrames, csv, and frame-state
pickles whose frames are views of one torch storage (written without torch by ``hostile``).
"""

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tutorial_utils.io import originals, validate
from tutorial_utils.io.originals import BadOriginal

FIXTURES = Path(__file__).parent / "fixtures"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, FIXTURES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


real_format = _load("real_format")
hostile = _load("hostile")
S18, S33 = "F02_B01_S18_R01_N.mat", "F02_B01_S33_R01_N.mat"
LENGTHS = {S18: 1100, S33: 800}  # 3 and 2 model frames


def _audio_table(path, names, audio):
    table = pd.DataFrame({"FILENAME": names, "SENTENCE": ["A sentence."] * len(names)})
    table["AUDIO"] = audio
    table.to_pickle(path)
    return path


def _bad(call, *match):
    with pytest.raises(BadOriginal) as info:
        call()
    message = str(info.value)
    for text in match:
        assert text in message, message
    return message


# -- item 4: broken files ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty (0 bytes)"),
        (b"<!DOCTYPE html><html><body>Google Drive - Quota exceeded</body></html>", "HTML page"),
        (b"\x80\x05\x95\x00\x01\x00\x00\x00\x00\x00\x00}", "truncated"),
        (b"PK\x03\x04 this is not really a zip archive", "damaged zip archive"),
        (b"just some text", "not a valid file"),
    ],
    ids=["empty", "html", "truncated-pickle", "bad-zip", "text"],
)
def test_broken_pickles_name_the_file_and_the_fault(tmp_path, content, reason):
    path = tmp_path / "ema_audio_F02.pkl"
    path.write_bytes(content)
    message = _bad(lambda: originals.read_recordings(path), "ema_audio_F02.pkl", reason)
    assert str(path) in message


def test_truncated_real_pickle(tmp_path):
    path = tmp_path / "ema_audio_F02.pkl"
    real_format.write_ema_audio(path, LENGTHS)
    path.write_bytes(path.read_bytes()[:-100])
    _bad(lambda: originals.read_recordings(path), "truncated")


def test_truncated_frame_states(tmp_path):
    path = tmp_path / "frame_states_p1_test.pkl"
    path.write_bytes((FIXTURES / "frame_states_tiny.pkl").read_bytes()[:-300])
    _bad(lambda: originals.read_frame_states(path, LENGTHS), "frame_states_p1_test.pkl")


def test_nested_load_from_bytes(tmp_path):
    path = tmp_path / "frame_states_p1_test.pkl"
    path.write_bytes(hostile.nested_load_from_bytes())
    _bad(lambda: originals.read_frame_states(path, LENGTHS), "nested")


def test_per_file_entry_that_is_a_list(tmp_path):
    path = tmp_path / "frame_states_p1_test.pkl"
    frames = np.ones((3, 4), np.float32)
    path.write_bytes(hostile.frame_states({0: [frames]}))  # {0: [...]} instead of {0: {...}}
    _bad(lambda: originals.read_frame_states(path, LENGTHS), "layer 0 holds a list")


def test_memory_bomb_in_an_original(tmp_path):
    path = tmp_path / "ema_audio_F02.pkl"
    path.write_bytes(hostile.series_bomb_via_new_index())
    _bad(lambda: originals.read_recordings(path), "RangeIndex of 300,000,000 rows")


def test_wrong_columns(tmp_path):
    path = tmp_path / "ema_audio_F02.pkl"
    pd.DataFrame({"NAME": [S18], "WAV": [np.zeros(500, np.float32)]}).to_pickle(path)
    _bad(lambda: originals.read_recordings(path), "lacks the columns")


# -- item 6: FILENAME values -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("NA", "as missing values"),
        ("null", "as missing values"),
        ("", "empty"),
        ("F02\x00B01", "control characters"),
        ("../F02_B01_S18", "path separators"),
        (7, "must be text"),
        (b"F02_B01_S18_R01_N.mat", "must be text"),
    ],
    ids=["NA", "null", "empty", "NUL", "separator", "int", "bytes"],
)
def test_filenames_that_do_not_survive_the_cache_are_refused(tmp_path, name, reason):
    path = _audio_table(tmp_path / "ema_audio_F02.pkl", [S18, name], [np.zeros(800, "f4")] * 2)
    _bad(lambda: originals.read_recordings(path), "FILENAME values", reason)


def test_duplicate_filenames(tmp_path):
    path = _audio_table(tmp_path / "ema_audio_F02.pkl", [S18, S18], [np.zeros(800, "f4")] * 2)
    _bad(lambda: originals.read_recordings(path), "more than once")


@pytest.mark.parametrize("name", ["../OUTSIDE", "F02/x", "*", "F0?", "..", "", "F 02", "[F]"])
def test_participant_ids_must_be_plain(name):
    with pytest.raises(ValueError, match="not a participant id"):
        validate.check_participant(name)
    assert validate.check_participant("F02") == "F02"


# -- item 7: values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("audio", "reason"),
    [
        (np.array([0.1, np.nan] * 300, np.float32), "300 NaN or infinite samples"),
        (np.array([0.1, np.inf] * 300, np.float32), "infinite"),
        (np.zeros(600, np.complex64), "complex"),
        (np.zeros(399, np.float32), "fewer than one model frame"),
        (np.zeros((2, 600), np.float32), "1-D mono"),
        (np.array(["a"] * 600), "expected floats"),
    ],
    ids=["nan", "inf", "complex", "short", "stereo", "text"],
)
def test_bad_audio_is_refused(tmp_path, audio, reason):
    path = _audio_table(tmp_path / "ema_audio_F02.pkl", [S18], [audio])
    _bad(lambda: originals.read_recordings(path), S18, reason)


def test_int16_pcm_is_scaled_with_a_warning(tmp_path):
    pcm = np.array([0, 16384, -32768, 32767] * 200, np.int16)
    path = _audio_table(tmp_path / "ema_audio_F02.pkl", [S18, S33], [pcm, pcm.astype("f8")])
    with pytest.warns(validate.DataWarning) as caught:
        table = originals.read_recordings(path)
    messages = [str(w.message) for w in caught]
    assert any("int16 PCM audio divided by 32768" in m and S18 in m for m in messages)
    assert any("unscaled 16-bit PCM values; divided by 32768" in m and S33 in m for m in messages)
    for audio in table["AUDIO"]:
        assert audio.dtype == np.float32
        np.testing.assert_array_equal(audio[:4], [0, 0.5, -1, 32767 / 32768])


def test_float_audio_in_range_is_untouched(tmp_path):
    path = tmp_path / "ema_audio_F02.pkl"
    real_format.write_ema_audio(path, LENGTHS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = originals.read_recordings(path)
    np.testing.assert_array_equal(table["AUDIO"][0], real_format.tiny_audio(S18, 1100))


def _labels(tmp_path, rows, edit=None):
    path = tmp_path / "ema_labels_F02.csv"
    real_format.write_ema_labels(path, rows)
    if edit is not None:
        table = edit(pd.read_csv(path))
        table.to_csv(path, index=False)
    return path


def test_ema_rows_must_match_the_recording_length(tmp_path):
    path = _labels(tmp_path, {S18: 9, S33: 2})
    message = _bad(lambda: originals.read_labels(path, LENGTHS), "ema_labels_F02.csv")
    assert f"{S18} has 9 EMA rows but its audio gives 3 frames" in message


def test_ema_of_unknown_recordings(tmp_path):
    path = _labels(tmp_path, {S18: 3, "F02_B01_S99_R01_N.mat": 2})
    _bad(lambda: originals.read_labels(path, LENGTHS), "S99", "which have no audio")


def test_empty_ema(tmp_path):
    path = _labels(tmp_path, {S18: 3}, edit=lambda t: t.iloc[:0])
    _bad(lambda: originals.read_labels(path, LENGTHS), "no rows of EMA data")


def test_non_numeric_ema(tmp_path):
    def edit(table):
        table["TT_X"] = table["TT_X"].astype(object)
        table.loc[1, "TT_X"] = "n/a mm"
        return table

    path = _labels(tmp_path, {S18: 3, S33: 2}, edit)
    _bad(lambda: originals.read_labels(path, LENGTHS), "column TT_X has non-numeric values")


def test_missing_ema_values(tmp_path):
    path = _labels(tmp_path, {S18: 3, S33: 2}, edit=lambda t: t.assign(JAW_Y=np.nan))
    _bad(lambda: originals.read_labels(path, LENGTHS), "JAW_Y has 5 missing or infinite")


def _states_file(tmp_path, states):
    path = tmp_path / "frame_states_p1_test.pkl"
    path.write_bytes(hostile.frame_states(states))
    return path


def test_good_frame_states_in_the_real_format(tmp_path):
    rng = np.random.default_rng(0)
    states = {layer: {S18: rng.standard_normal((3, 4)), S33: rng.standard_normal((2, 4))}
              for layer in (0, 1)}  # fmt: skip
    arrays = originals.read_frame_states(_states_file(tmp_path, states), LENGTHS)
    np.testing.assert_array_equal(arrays[f"L1__{S33}"], states[1][S33].astype(np.float32))


@pytest.mark.parametrize(
    ("states", "reason"),
    [
        ({0: {S18: np.full((3, 4), np.nan)}}, "NaN or infinite values"),
        ({0: {S18: np.ones((3, 4))}, 1: {S33: np.ones((2, 4))}}, "other recordings than layer 0"),
        ({0: {S18: np.ones((3, 4))}, 1: {S18: np.ones((3, 5))}}, "different sizes [4, 5]"),
        ({0: {S18: np.ones((5, 4))}}, f"{S18}: 5 frames of hidden states but 3 expected"),
        ({0: {"F02_B01_S99_R01_N.mat": np.ones((3, 4))}}, "not among the recordings"),
    ],
    ids=["nan", "other-files", "other-sizes", "frame-count", "unknown-file"],
)
def test_bad_hidden_states_are_refused(tmp_path, states, reason):
    path = _states_file(tmp_path, states)
    _bad(lambda: originals.read_frame_states(path, LENGTHS), "frame_states_p1_test.pkl", reason)


def test_known_hash_registry(tmp_path, monkeypatch):
    path = tmp_path / "ema_labels_F02.csv"
    originals.check_known_hash(path.name, path, "a" * 64)  # unknown name: nothing pinned
    monkeypatch.setitem(originals.KNOWN_SHA256, path.name, "b" * 64)
    originals.check_known_hash(path.name, path, "b" * 64)
    _bad(lambda: originals.check_known_hash(path.name, path, "a" * 64), "its sha256 is aaaa")
    assert originals.KNOWN_SHA256 is not None
