"""Reading the originals: every bad file or value is one clear message naming the file. Fixtures
are in the real formats (pickled DataFrames, csv, frame states: views of one torch storage)."""

import io
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures import hostile, real_format

from tutorial_utils.io import originals
from tutorial_utils.io.originals import BadOriginal

FIXTURES = Path(__file__).parent / "fixtures"


S18, S33, S99 = "F02_B01_S18_R01_N.mat", "F02_B01_S33_R01_N.mat", "F02_B01_S99_R01_N.mat"
LENGTHS, ZEROS = {S18: 1100, S33: 800}, np.zeros(800, "f4")  # 3 and 2 model frames
A, L, F = "ema_audio_F02.pkl", "ema_labels_F02.csv", "frame_states_p1_test.pkl"
READ = {
    A: originals.read_recordings,
    L: lambda path: originals.read_labels(path, LENGTHS),
    F: lambda path: originals.read_frame_states(path, LENGTHS),
}


def _audio(name, audio, first=ZEROS, **fields):
    """Recordings ``S18`` with ``first`` and ``name`` with ``audio`` (and other ``fields``)."""
    table = pd.DataFrame({"FILENAME": [S18, name], "SENTENCE": "A.", "AUDIO": [first, audio]})
    table._metadata = [*fields]  # pickled as fields of the DataFrame, beside _mgr
    table.__dict__.update(fields)
    return pickle.dumps(table)


def _ema(rows, edit=lambda table: table):
    buffer = io.StringIO()
    real_format.write_ema_labels(buffer, rows)
    return edit(pd.read_csv(io.StringIO(buffer.getvalue()))).to_csv(index=False).encode()


def _text_in_tt_x(table):
    table["TT_X"] = table["TT_X"].astype(object)
    table.loc[1, "TT_X"] = "n/a mm"
    return table


NAN, ONES = np.full((3, 4), np.nan), np.ones((3, 4))
BAD = [
    (A, b"", "empty (0 bytes)"),
    (A, b"<!DOCTYPE html><html><body>Google Drive - Quota</body></html>", "HTML page"),
    (A, b"\x80\x05\x95\x00\x01\x00\x00\x00\x00\x00\x00}", "truncated"),
    (A, (FIXTURES / "ema_audio_OLD.pkl").read_bytes()[:-100], "truncated"),
    (A, b"PK\x03\x04 this is not really a zip archive", "it is damaged"),
    (A, b"just some text", "it is damaged"),
    (A, hostile.pickle_of(hostile.call(hostile.glob("builtins", "exec"), b"N")), "allow-list"),
    (A, hostile.range_index_bomb(), "RangeIndex of 300,000,000 rows"),
    (A, pickle.dumps([1]), "not a table of recordings"),
    (A, pickle.dumps(pd.DataFrame({"NAME": [S18]})), "not a table of recordings"),
    (A, pickle.dumps(pd.DataFrame({"a": [1]}), protocol=1), "Unsupported format"),
    (A, _audio("", ZEROS), "FILENAME values ['']"),
    (A, _audio("F02\x00B01", ZEROS), "not unique names"),
    (A, _audio("../F02_B01_S18", ZEROS), "not unique names"),
    (A, _audio(7, ZEROS), "FILENAME values [7]"),
    (A, _audio(S18.encode(), ZEROS), "not unique names"),
    (A, _audio(S18, ZEROS), "not unique names"),
    (A, _audio(S33, ZEROS, note="x"), "A DataFrame in the pickle sets unknown fields"),
    (A, _audio(S33, np.array([0.1, np.nan] * 300, "f4")), "300 NaN or infinite samples"),
    (A, _audio(S33, np.array([0.1, np.inf] * 300, "f4")), "infinite"),
    (A, _audio(S33, np.zeros(600, np.complex64)), "complex64 (600,); expected 1-D floats"),
    (A, _audio(S33, np.zeros(399, "f4")), "at least one model frame"),
    (A, _audio(S33, np.zeros((2, 600), "f4")), "(2, 600); expected 1-D"),
    (A, _audio(S33, np.zeros(600, np.int16)), "int16 (600,); expected 1-D floats"),
    (L, _ema({S18: 9, S33: 2}), f"{S18} has 9 EMA rows but its audio gives 3 frames"),
    (L, _ema({S18: 3, S99: 2}), "S99"),
    (L, _ema({S18: 3}, lambda t: t.iloc[:0]), "it has 0 rows"),
    (L, _ema({S18: 3, S33: 2}, _text_in_tt_x), "column TT_X has 1 missing or non-numeric"),
    (L, _ema({S18: 3, S33: 2}, lambda t: t.assign(JAW_Y=np.nan)), "JAW_Y has 5 missing"),
    (F, (FIXTURES / "frame_states_tiny.pkl").read_bytes()[:-300], "truncated"),
    (F, hostile.nested_load_from_bytes(), "nested"),
    (F, hostile.tensor_of_storage("BFloat16Storage", 3, 2), "Unsupported format"),
    (F, hostile.frame_states({0: [ONES]}), "does not hold a {layer: {filename: frames}}"),
    (F, hostile.frame_states({0: {S18: NAN}}), "(finite: False)"),
    (F, hostile.frame_states({0: {S18: ONES}, 1: {S33: ONES[:2]}}), "other recordings"),
    (F, hostile.frame_states({0: {S18: ONES}, 1: {S18: np.ones((3, 5))}}), "sizes [4, 5]"),
    (F, hostile.frame_states({0: {S18: np.ones((5, 4))}}), "are (5, 4) (finite: True)"),
    (F, hostile.frame_states({0: {S99: ONES}}), f"other recordings (['{S99}'])"),
]


@pytest.mark.parametrize(("name", "content", "reason"), BAD)
def test_every_bad_original_is_one_message_naming_the_file(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BadOriginal) as info:
        READ[name](path)
    assert all(text in str(info.value) for text in (name, str(path), reason)), str(info.value)


def test_good_originals_are_read(tmp_path):
    real_format.write_ema_audio(tmp_path / A, LENGTHS)
    table = originals.read_recordings(tmp_path / A)
    np.testing.assert_array_equal(table["AUDIO"][0], real_format.tiny_audio(S18, 1100))
    assert [a.dtype for a in table["AUDIO"]] == [np.float32] * 2
    rng = np.random.default_rng(0)
    good = {k: {S18: rng.standard_normal((3, 4)), S33: rng.standard_normal((2, 4))} for k in (0, 1)}
    (tmp_path / F).write_bytes(hostile.frame_states(good))
    arrays = originals.read_frame_states(tmp_path / F, LENGTHS)
    np.testing.assert_array_equal(arrays[f"L1__{S33}"], good[1][S33].astype(np.float32))
