"""Restricted unpickling: the real formats load (without torch); nothing else runs or expands."""

import pickle
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures import hostile, real_format

from tutorial_utils.io.originals import Budget, UnsafePickle, load

FIXTURES = Path(__file__).parent / "fixtures"


G, C, T = hostile.glob, hostile.call, hostile.text
ATTACKS = {
    "os.system": lambda marker: C(G("os", "system"), T(f"touch {marker}")),
    "eval": lambda marker: C(G("builtins", "eval"), T(f"open('{marker}', 'w')")),
    "a class called": lambda marker: C(G("pandas", "DataFrame"), b"}"),
    "other arguments": lambda marker: C(G("numpy", "dtype"), hostile.integer(5)),
    "instance (INST)": lambda marker: b"(" + b"ipandas\nDataFrame\n",
    "persistent id": lambda marker: T("ref") + b"Q",
    "class pollution": lambda marker: G("pandas", "Index") + hostile.tuple_of(b"N", b"}" + T("is_unique") + b"\x88s") + b"b",  # noqa: E501
    "state of a non-data object": lambda marker: C(G("collections", "OrderedDict")) + b"}b",
}  # fmt: skip


@pytest.mark.parametrize("attack", ATTACKS)
def test_no_code_from_a_pickle_runs(tmp_path, attack):
    """Other globals, calls, arguments, instances, persistent ids or state: all refused."""
    marker, path = tmp_path / "pwned", tmp_path / "ema_audio_F02.pkl"
    path.write_bytes(hostile.pickle_of(ATTACKS[attack](marker)))
    with pytest.raises(UnsafePickle, match="refused"):
        load(path)
    assert not marker.exists() and pd.Index([1, 1]).is_unique is False


ARRAY, EMPTY = G("numpy", "ndarray"), hostile.tuple_of(hostile.integer(0))
REBUILD, FRAME = G("numpy._core.multiarray", "_reconstruct"), G("pandas", "DataFrame")
BACKED, SUM = G("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"), hostile.integer(82904607)
VALUES = {  # an allow-listed call given one value that its list of allowed values lacks
    "shape (8,)": C(REBUILD, ARRAY, hostile.tuple_of(hostile.integer(8)), b"C\x01b"),
    "dtype O": C(REBUILD, ARRAY, EMPTY, b"C\x01O"),
    "array class": C(REBUILD, FRAME, EMPTY, b"C\x01b"),
    "index class": C(G("pandas.core.indexes.base", "_new_Index"), FRAME, b"}"),
    "backed class": C(BACKED, G("pandas", "Index"), SUM, b"N"),
    "backed state": C(BACKED, G("pandas.arrays", "StringArray"), SUM, b"NN\x86"),
}


@pytest.mark.parametrize("value", VALUES)
def test_allowed_calls_take_only_their_allowed_values(tmp_path, value):
    (tmp_path / "x.pkl").write_bytes(hostile.pickle_of(VALUES[value]))
    with pytest.raises(UnsafePickle, match="as a data file never does: refused"):
        load(tmp_path / "x.pkl")


BOMBS = {
    "array-1e12": hostile.array_bomb(10**12),
    "array-2.4GB": hostile.array_bomb(300_000_000),  # would be allocated, not fail
    "range-index": hostile.range_index_bomb(),
    "bytearray8": hostile.declared_length_bomb(b"\x96"),
    "binbytes8": hostile.declared_length_bomb(b"\x8e"),  # a read of 2.5 GB
    "stride-0": hostile.stride_zero_bomb(),
    "zip": None,  # a torch.save archive whose storage inflates to 64 MiB
    "lying-zip": None,  # the same, declaring 4 bytes: read no further (then a CRC error)
}


@pytest.mark.parametrize("bomb", BOMBS)
def test_memory_bombs_are_refused_before_allocating(tmp_path, bomb):
    path = tmp_path / "frame_states_p1_test.pkl"
    if BOMBS[bomb] is None:
        hostile.torch_zip(path, None, bomb_mib=64, lie=bomb == "lying-zip")
    else:
        path.write_bytes(BOMBS[bomb])
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(UnsafePickle if bomb != "lying-zip" else zipfile.BadZipFile) as info:
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 2 and peak < 32e6
    assert bomb == "lying-zip" or "4 x its size + 16 MiB); nothing was allocated" in str(info.value)
    budget = Budget(1000)  # the limit exactly
    budget.charge("all of it", (4 * 1000 + (16 << 20),))
    with pytest.raises(UnsafePickle):
        budget.charge("one more byte", (1,))


def test_real_formats_are_read_exactly_without_torch(tmp_path):
    torch_before = "torch" in sys.modules
    old = load(FIXTURES / "ema_audio_OLD.pkl")  # pickled by pandas 2.2 / numpy 1.26
    assert old.FILENAME.tolist() == list(real_format.TINY_AUDIO_LENGTHS)
    np.testing.assert_array_equal(old.AUDIO[0], np.linspace(-0.5, 0.5, 1100, dtype=np.float32))
    real_format.write_ema_audio(tmp_path / "a.pkl", {"F02_B01_S18_R01_N.mat": 200_000})
    table = load(tmp_path / "a.pkl")  # 800 kB of audio: within the budget without the slack
    assert list(table.columns) == ["FILENAME", "SENTENCE", "AUDIO"]
    expected = real_format.tiny_audio(table.FILENAME[0], 200_000)
    np.testing.assert_array_equal(table.AUDIO[0], expected)
    states = load(FIXTURES / "frame_states_tiny.pkl")  # pickled with torch: views of a storage
    for layer in real_format.FRAME_LAYERS:
        for index, (name, n) in enumerate(real_format.FRAME_FILES.items()):
            assert all(f.dtype == np.float32 and f.shape == (4,) for f in states[layer][name])
            expected = real_format.expected_frames(layer, index, n)
            np.testing.assert_array_equal(np.stack(states[layer][name]), expected)
    hostile.torch_zip(tmp_path / "t.pt", np.arange(6, dtype=np.float32))
    np.testing.assert_array_equal(load(tmp_path / "t.pt"), np.arange(6))
    assert ("torch" in sys.modules) == torch_before


def test_whole_recording_storages_are_not_kept(tmp_path):
    whole = np.random.default_rng(0).standard_normal((100, 768)).astype(np.float32)
    path = tmp_path / "frame_states_p1_test.pkl"
    path.write_bytes(hostile.frame_states({0: {"a": whole}}))
    assert path.stat().st_size > 30e6  # every frame pickles the whole recording
    tracemalloc.start()
    try:
        states = load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(np.stack(states[0]["a"]), whole)
    assert peak < 10e6


@pytest.mark.parametrize(("content", "kind"), [
    (hostile.tensor_of_storage("BFloat16Storage", 3, 2), "torch bfloat16"),
    (hostile.tensor_of_storage("ComplexFloatStorage", 3, 8), "torch complexfloat"),
    *[(pickle.dumps(pd.DataFrame({"a": [1.0]}), p), "a protocol-") for p in (0, 1, 2)],
])  # fmt: skip
def test_safe_formats_that_are_not_read_are_unsupported_not_unsafe(tmp_path, content, kind):
    (tmp_path / "x.pkl").write_bytes(content)
    with pytest.raises(ValueError, match=f"Unsupported format: {kind}") as info:
        load(tmp_path / "x.pkl")
    assert not isinstance(info.value, UnsafePickle)


def test_hand_made_formats_match_torch(tmp_path):
    torch = pytest.importorskip("torch", reason="torch checks the hand-made formats")
    data = hostile.frame_states({0: {"a": np.arange(6, dtype=np.float32).reshape(2, 3)}})
    (tmp_path / "f.pkl").write_bytes(data)
    torch_made = np.stack(pickle.loads(data)[0]["a"])
    np.testing.assert_array_equal(np.stack(load(tmp_path / "f.pkl")[0]["a"]), torch_made)
    x = torch.randn(1, 6, 4)
    torch.save({0: {"a": [x[0, t] for t in range(6)]}, 1: {"a": x[0]}}, tmp_path / "s.pt")
    states = load(tmp_path / "s.pt")
    np.testing.assert_array_equal(np.stack(states[0]["a"]), x[0].numpy())
    np.testing.assert_array_equal(states[1]["a"], x[0].numpy())
    torch.save(torch.ones(2, dtype=torch.bfloat16), tmp_path / "b.pt")
    with pytest.raises(ValueError, match="bfloat16"):
        load(tmp_path / "b.pt")
