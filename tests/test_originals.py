"""Reading the originals: every bad file or value is one clear message naming the file.

Fixtures are in the real formats: pandas-pickled DataFrames, csv, and frame-state pickles whose
frames are views of one torch storage (written without torch by ``hostile``). The command line
(one paragraph, exit code 2) is in ``test_convert.py``.
"""

import importlib.util
import pickle
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


real_format, hostile = _load("real_format"), _load("hostile")
S18, S33 = "F02_B01_S18_R01_N.mat", "F02_B01_S33_R01_N.mat"
LENGTHS = {S18: 1100, S33: 800}  # 3 and 2 model frames


def _bad(call, path, *reasons):
    with pytest.raises(BadOriginal) as info:
        call()
    for text in (path.name, str(path), *reasons):
        assert text in str(info.value), str(info.value)


def _table(names, audio):
    return pickle.dumps(pd.DataFrame({"FILENAME": names, "SENTENCE": "A.", "AUDIO": audio}))


class _Exec:
    def __reduce__(self):
        return exec, ("raise SystemExit",)


TINY = (FIXTURES / "ema_audio_OLD.pkl").read_bytes()
STATES = (FIXTURES / "frame_states_tiny.pkl").read_bytes()


@pytest.mark.parametrize(
    ("kind", "content", "reason"),
    [
        ("audio", b"", "empty (0 bytes)"),
        ("audio", b"<!DOCTYPE html><html><body>Google Drive - Quota</body></html>", "HTML page"),
        ("audio", b"\x80\x05\x95\x00\x01\x00\x00\x00\x00\x00\x00}", "truncated"),
        ("audio", TINY[:-100], "truncated"),
        ("audio", b"PK\x03\x04 this is not really a zip archive", "damaged zip archive"),
        ("audio", b"just some text", "not a valid file"),
        ("audio", pickle.dumps({"AUDIO": _Exec()}), "not on the allow-list"),
        ("audio", hostile.range_index_bomb(), "RangeIndex of 300,000,000 rows"),
        ("audio", pickle.dumps([1]), "not a table of recordings"),
        ("audio", pickle.dumps(pd.DataFrame({"NAME": [S18]})), "not a table of recordings"),
        ("audio", pickle.dumps(pd.DataFrame({"a": [1]}), protocol=1), "Unsupported format"),
        ("states", STATES[:-300], "truncated"),
        ("states", hostile.nested_load_from_bytes(), "nested"),
        ("states", hostile.tensor_of_storage("BFloat16Storage", 3, 2), "Unsupported format"),
        ("states", hostile.frame_states({0: [np.ones((3, 4))]}), "layer 0 holds a list"),
    ],
)
def test_bad_files_name_the_file_and_the_fault(tmp_path, kind, content, reason):
    path = tmp_path / ("ema_audio_F02.pkl" if kind == "audio" else "frame_states_p1_test.pkl")
    path.write_bytes(content)
    if kind == "audio":
        _bad(lambda: originals.read_recordings(path), path, reason)
    else:
        _bad(lambda: originals.read_frame_states(path, LENGTHS), path, reason)


@pytest.mark.parametrize(
    ("name", "audio", "reason"),
    [
        ("NA", np.zeros(800, "f4"), "as missing values"),
        ("null", np.zeros(800, "f4"), "as missing values"),
        ("", np.zeros(800, "f4"), "empty"),
        ("F02\x00B01", np.zeros(800, "f4"), "control characters"),
        ("../F02_B01_S18", np.zeros(800, "f4"), "path separators"),
        (7, np.zeros(800, "f4"), "must be text"),
        (S18.encode(), np.zeros(800, "f4"), "must be text"),
        (S18, np.zeros(800, "f4"), "more than once"),
        (S33, np.array([0.1, np.nan] * 300, np.float32), "300 NaN or infinite samples"),
        (S33, np.array([0.1, np.inf] * 300, np.float32), "infinite"),
        (S33, np.zeros(600, np.complex64), "complex"),
        (S33, np.zeros(399, np.float32), "fewer than one model frame"),
        (S33, np.zeros((2, 600), np.float32), "1-D mono"),
        (S33, np.array(["a"] * 600), "expected floats"),
    ],
)
def test_bad_recordings_are_refused(tmp_path, name, audio, reason):
    path = tmp_path / "ema_audio_F02.pkl"
    path.write_bytes(_table([S18, name], [np.zeros(800, "f4"), audio]))
    _bad(lambda: originals.read_recordings(path), path, reason)


def test_audio_is_read_as_is_or_pcm_scaled_with_a_warning(tmp_path):
    path = tmp_path / "ema_audio_F02.pkl"
    real_format.write_ema_audio(path, LENGTHS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = originals.read_recordings(path)
    np.testing.assert_array_equal(table["AUDIO"][0], real_format.tiny_audio(S18, 1100))
    assert originals.audio_lengths(table) == LENGTHS
    pcm = np.array([0, 16384, -32768, 32767] * 200, np.int16)
    path.write_bytes(_table([S18, S33], [pcm, pcm.astype("f8")]))
    with pytest.warns(validate.DataWarning) as caught:
        table = originals.read_recordings(path)
    messages = [str(w.message) for w in caught]
    assert any("int16 PCM audio divided by 32768" in m and S18 in m for m in messages)
    assert any("unscaled 16-bit PCM values; divided by 32768" in m and S33 in m for m in messages)
    for audio in table["AUDIO"]:
        assert audio.dtype == np.float32
        np.testing.assert_array_equal(audio[:4], [0, 0.5, -1, 32767 / 32768])


def _text_nan(table):
    table["TT_X"] = table["TT_X"].astype(object)
    table.loc[1, "TT_X"] = "n/a mm"
    return table


@pytest.mark.parametrize(
    ("rows", "edit", "reason"),
    [
        ({S18: 9, S33: 2}, None, f"{S18} has 9 EMA rows but its audio gives 3 frames"),
        ({S18: 3, "F02_B01_S99_R01_N.mat": 2}, None, "S99"),
        ({S18: 3}, lambda t: t.iloc[:0], "no rows of EMA data"),
        ({S18: 3, S33: 2}, _text_nan, "column TT_X has non-numeric values"),
        ({S18: 3, S33: 2}, lambda t: t.assign(JAW_Y=np.nan), "JAW_Y has 5 missing or infinite"),
    ],
)
def test_bad_ema_is_refused(tmp_path, rows, edit, reason):
    path = tmp_path / "ema_labels_F02.csv"
    real_format.write_ema_labels(path, rows)
    if edit is not None:
        edit(pd.read_csv(path)).to_csv(path, index=False)
    _bad(lambda: originals.read_labels(path, LENGTHS), path, reason)


@pytest.mark.parametrize(
    ("states", "reason"),
    [
        ({0: {S18: np.full((3, 4), np.nan)}}, "NaN or infinite values"),
        ({0: {S18: np.ones((3, 4))}, 1: {S33: np.ones((2, 4))}}, "other recordings than layer 0"),
        ({0: {S18: np.ones((3, 4))}, 1: {S18: np.ones((3, 5))}}, "different sizes [4, 5]"),
        ({0: {S18: np.ones((5, 4))}}, f"{S18}: 5 frames of hidden states but 3 expected"),
        ({0: {"F02_B01_S99_R01_N.mat": np.ones((3, 4))}}, "not among the recordings"),
        (None, None),
    ],
)
def test_hidden_states_are_checked(tmp_path, states, reason):
    path = tmp_path / "frame_states_p1_test.pkl"
    rng = np.random.default_rng(0)
    good = {k: {S18: rng.standard_normal((3, 4)), S33: rng.standard_normal((2, 4))} for k in (0, 1)}
    path.write_bytes(hostile.frame_states(states or good))
    if states is not None:
        return _bad(lambda: originals.read_frame_states(path, LENGTHS), path, reason)
    arrays = originals.read_frame_states(path, LENGTHS)
    np.testing.assert_array_equal(arrays[f"L1__{S33}"], good[1][S33].astype(np.float32))


def test_participant_ids_and_known_hashes(tmp_path, monkeypatch):
    for name in ["../OUTSIDE", "F02/x", "*", "F0?", "..", "", "F 02", "[F]"]:
        with pytest.raises(ValueError, match="not a participant id"):
            validate.check_participant(name)
    assert validate.check_participant("F02") == "F02"
    path = tmp_path / "ema_labels_F02.csv"
    originals.check_known_hash(path.name, path, "a" * 64)  # nothing pinned
    monkeypatch.setitem(originals.KNOWN_SHA256, path.name, "b" * 64)
    originals.check_known_hash(path.name, path, "b" * 64)
    _bad(lambda: originals.check_known_hash(path.name, path, "a" * 64), path, "its sha256 is aaa")
