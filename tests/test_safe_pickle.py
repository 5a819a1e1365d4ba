"""Restricted unpickling: the real formats load (without torch); nothing else runs or expands."""

import importlib.util
import io
import os
import pickle
import sys
import time
import tracemalloc
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tutorial_utils.io.unpickle import Budget, UnsafePickle, load

FIXTURES = Path(__file__).parent / "fixtures"


def _fixture(name):
    spec = importlib.util.spec_from_file_location(name, FIXTURES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


real_format, hostile = _fixture("real_format"), _fixture("hostile")


class _Call:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _with_pid(obj):
    class WithPid(pickle.Pickler):
        def persistent_id(self, obj):
            return "ref" if obj == "secret" else None

    buffer = io.BytesIO()
    WithPid(buffer).dump(obj)
    return buffer.getvalue()


HOSTILE = {
    "os.system": lambda marker: pickle.dumps({"AUDIO": _Call(os.system, f"touch {marker}")}),
    "eval": lambda marker: pickle.dumps(_Call(eval, f"open('{marker}', 'w')")),
    "getattr": lambda marker: pickle.dumps(_Call(getattr, [], "append")),
    "np.load": lambda marker: pickle.dumps(_Call(np.load, str(marker))),
    "a class called": lambda marker: pickle.dumps(_Call(pd.DataFrame, {"a": [1.0]})),
    "wrong arguments": lambda marker: pickle.dumps(_Call(np.dtype, 5)),
    "persistent id": lambda marker: _with_pid(["secret"]),
    "class pollution": lambda marker: hostile.class_pollution(),
    "state of a non-data object": lambda marker: pickle.dumps(OrderedDict(), 3)[:-1] + b"}b.",
}  # fmt: skip


@pytest.mark.parametrize("attack", HOSTILE)
def test_no_code_from_a_pickle_runs(tmp_path, attack):
    """Globals off the allow-list, classes called, unexpected arguments, persistent ids and
    state set on a class (class pollution) or a non-data object are all refused."""
    marker = tmp_path / "pwned"
    path = tmp_path / "ema_audio_F02.pkl"
    path.write_bytes(HOSTILE[attack](marker))
    with pytest.raises(UnsafePickle, match="refused|Refusing|class-pollution"):
        load(path)
    assert not marker.exists()
    assert pd.Index([1, 1]).is_unique is False


@pytest.mark.parametrize(
    "bomb",
    [
        hostile.array_bomb(),  # an (1e12,) float64 array
        hostile.array_bomb(300_000_000),  # 2.4 GB: would allocate, not fail
        hostile.range_index_bomb(),
        hostile.declared_length_bomb(b"\x96"),  # BYTEARRAY8
        hostile.declared_length_bomb(b"\x8e"),  # BINBYTES8: a read of 2.5 GB
        hostile.stride_zero_bomb(),
        "zip",  # a torch.save archive whose storage inflates to 64 MiB
    ],
    ids=["array-1e12", "array-2.4GB", "range-index", "bytearray8", "binbytes8", "stride-0", "zip"],
)
def test_memory_bombs_are_refused_before_allocating(tmp_path, bomb):
    path = tmp_path / "frame_states_p1_test.pkl"
    if bomb == "zip":
        hostile.torch_zip(path, None, bomb_mib=64)
    else:
        path.write_bytes(bomb)
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(UnsafePickle, match="4 x its size") as info:
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 2 and peak < 32e6
    assert "nothing was allocated" in str(info.value)
    budget = Budget(1000)
    budget.charge("all of it", (4 * 1000 + (16 << 20),))
    with pytest.raises(UnsafePickle):
        budget.charge("one more byte", (1,))


def test_real_formats_read_exactly_without_torch(tmp_path):
    old = load(FIXTURES / "ema_audio_OLD.pkl")  # pickled by pandas 2.2 / numpy 1.26
    assert old.FILENAME.tolist() == list(real_format.TINY_AUDIO_LENGTHS)
    np.testing.assert_array_equal(old.AUDIO[0], np.linspace(-0.5, 0.5, 1100, dtype=np.float32))
    real_format.write_ema_audio(tmp_path / "a.pkl", {"F02_B01_S18_R01_N.mat": 200_000})
    table = load(tmp_path / "a.pkl")  # 800 kB of audio: within the budget without the slack
    assert list(table.columns) == ["FILENAME", "SENTENCE", "AUDIO"]
    np.testing.assert_array_equal(
        table.AUDIO[0], real_format.tiny_audio(table.FILENAME[0], 200_000)
    )  # noqa: E501
    states = load(FIXTURES / "frame_states_tiny.pkl")  # pickled with torch: views of a storage
    for layer in real_format.FRAME_LAYERS:
        for index, (name, n) in enumerate(real_format.FRAME_FILES.items()):
            assert all(f.dtype == np.float32 and f.shape == (4,) for f in states[layer][name])
            expected = real_format.expected_frames(layer, index, n)
            np.testing.assert_array_equal(np.stack(states[layer][name]), expected)
    values = np.arange(6, dtype=np.float32)
    hostile.torch_zip(tmp_path / "t.pt", values)
    np.testing.assert_array_equal(load(tmp_path / "t.pt"), values)
    assert "torch" not in sys.modules


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


def test_safe_formats_that_are_not_read_are_unsupported_not_unsafe(tmp_path):
    path = tmp_path / "x.pkl"
    for storage, itemsize, kind in [
        ("BFloat16Storage", 2, "bfloat16"),
        ("ComplexFloatStorage", 8, "complexfloat"),
    ]:  # noqa: E501
        path.write_bytes(hostile.tensor_of_storage(storage, 3, itemsize))
        with pytest.raises(ValueError, match=f"Unsupported format: torch {kind}") as info:
            load(path)
        assert not isinstance(info.value, UnsafePickle)
    for protocol in (0, 1, 2):
        pd.DataFrame({"a": [np.zeros(3)]}).to_pickle(path, protocol=protocol)
        with pytest.raises(ValueError, match="Unsupported format: a protocol"):
            load(path)


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
