"""Restricted unpickling: real formats load (without torch), anything else is refused."""

import importlib.util
import io
import os
import pickle
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tutorial_utils.io.pickle_policy import BUDGET_FACTOR, BUDGET_SLACK, Budget
from tutorial_utils.io.safe_pickle import (
    PickleTooLarge,
    UnsafePickleError,
    UnsupportedPickleFormat,
    load_dataframe,
    safe_load,
)

FIXTURES = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location("real_format", FIXTURES / "real_format.py")
real_format = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(real_format)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "ema_audio_F02.pkl"
    path.write_bytes(pickle.dumps({"AUDIO": _Payload(marker)}))
    pickle.loads(pickle.dumps(0))  # sanity: plain pickle works here
    with pytest.raises(UnsafePickleError, match="not on the allow-list"):
        safe_load(path)
    assert not marker.exists()
    assert issubclass(UnsafePickleError, ValueError)


@pytest.mark.parametrize("target", [eval, getattr, __import__, np.load, pd.read_pickle])
def test_other_globals_are_refused(tmp_path, target):
    class Reduce:
        def __reduce__(self):
            return (target, ("x",))

    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps(Reduce()))
    with pytest.raises(UnsafePickleError):
        safe_load(path)


def test_persistent_ids_are_refused(tmp_path):
    class WithPid(pickle.Pickler):
        def persistent_id(self, obj):
            return "ref" if obj == "secret" else None

    buffer = io.BytesIO()
    WithPid(buffer).dump(["secret"])
    path = tmp_path / "p.pkl"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(UnsafePickleError, match="persistent id"):
        safe_load(path)


def test_dataframe_of_current_pandas(tmp_path):
    path = tmp_path / "ema_audio_F02.pkl"
    real_format.write_ema_audio(path, real_format.TINY_AUDIO_LENGTHS)
    table = load_dataframe(path)
    assert list(table.columns) == ["FILENAME", "SENTENCE", "AUDIO"]
    for name, audio in zip(table.FILENAME, table.AUDIO, strict=True):
        np.testing.assert_array_equal(
            audio, real_format.tiny_audio(name, real_format.TINY_AUDIO_LENGTHS[name])
        )


def test_dataframe_of_older_pandas():
    """Committed fixture pickled with pandas 2.2 / numpy 1.26 (numpy.core paths)."""
    table = load_dataframe(FIXTURES / "ema_audio_OLD.pkl")
    assert table.FILENAME.tolist() == list(real_format.TINY_AUDIO_LENGTHS)
    assert table.AUDIO[0].dtype == np.float32 and table.AUDIO[0].shape == (1100,)
    np.testing.assert_allclose(table.AUDIO[0][[0, -1]], [-0.5, 0.5])


def test_load_dataframe_rejects_other_objects(tmp_path):
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="expected a pandas DataFrame"):
        load_dataframe(path)
    with pytest.raises(FileNotFoundError):
        safe_load(tmp_path / "missing.pkl")


def test_committed_torch_frames_load_without_torch():
    states = safe_load(FIXTURES / "frame_states_tiny.pkl")
    assert sorted(states) == list(real_format.FRAME_LAYERS)
    for layer in real_format.FRAME_LAYERS:
        for index, (name, n) in enumerate(real_format.FRAME_FILES.items()):
            frames = states[layer][name]
            assert isinstance(frames, list) and len(frames) == n
            assert all(f.dtype == np.float32 and f.shape == (4,) for f in frames)
            expected = real_format.expected_frames(layer, index, n)
            np.testing.assert_array_equal(np.stack(frames), expected)


def test_torch_views_pickle(tmp_path):
    pytest.importorskip("torch", reason="torch makes the view-sharing fixture")
    path = tmp_path / "frame_states_p1_test.pkl"
    frames = {"F02_B01_S18_R01_N.mat": 5, "F02_B01_S33_R01_N.mat": 7}
    expected = real_format.write_frame_states_torch(path, frames, layers=3, dim=8)
    states = safe_load(path)
    for (layer, name), values in expected.items():
        np.testing.assert_array_equal(np.stack(states[layer][name]), values)


def test_torch_zip_archive(tmp_path):
    torch = pytest.importorskip("torch", reason="torch.save makes the archive")
    x = torch.arange(24, dtype=torch.float32).reshape(1, 6, 4)
    path = tmp_path / "states.pt"
    torch.save({0: {"a": [x[0, t] for t in range(6)]}, 1: {"a": x[0]}}, path)
    states = safe_load(path)
    np.testing.assert_array_equal(np.stack(states[0]["a"]), x[0].numpy())
    np.testing.assert_array_equal(states[1]["a"], x[0].numpy())


def test_whole_recording_storages_are_not_kept(tmp_path):
    torch = pytest.importorskip("torch", reason="torch makes the view-sharing fixture")
    whole = torch.randn(1, 150, 768)
    path = tmp_path / "big.pkl"
    path.write_bytes(pickle.dumps({0: {"a": [whole[0, t] for t in range(150)]}}))
    assert path.stat().st_size > 60e6  # every frame pickles the whole recording
    tracemalloc.start()
    try:
        states = safe_load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(np.stack(states[0]["a"]), whole[0].numpy())
    assert peak < 10e6


# --------------------------------------------------------------------------------------------
# Hostile files (issue 11, items 10-12): refused before anything is allocated or changed
# --------------------------------------------------------------------------------------------

_spec = importlib.util.spec_from_file_location("hostile", FIXTURES / "hostile.py")
hostile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hostile)


def _refused_cheaply(path, error=UnsafePickleError, match=None):
    """Load ``path``: it must raise ``error`` within 2 s having traced < 32 MB."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(error, match=match) as info:
            safe_load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 2 and peak < 32e6
    return str(info.value)


@pytest.mark.parametrize(
    "bomb",
    ["bytearray_bomb", "series_bomb_via_new_index", "stride_zero_bomb"],
)
def test_memory_bombs_are_refused_before_allocating(tmp_path, bomb):
    path = tmp_path / "ema_audio_F02.pkl"
    path.write_bytes(getattr(hostile, bomb)())
    assert path.stat().st_size < 400
    message = _refused_cheaply(path, PickleTooLarge, match="4 x its size")
    assert "nothing was allocated" in message


def test_series_constructor_is_never_called_with_arguments(tmp_path):
    path = tmp_path / "x.pkl"
    path.write_bytes(hostile.series_bomb())  # Series(1.0, RangeIndex(300_000_000)), 58 bytes
    _refused_cheaply(path, match="only as a value")


def test_deflate_bomb_in_a_torch_archive_is_not_inflated(tmp_path):
    path = tmp_path / "frame_states_p1_test.pkl"
    path.write_bytes(hostile.zip_bomb(2.4))
    assert path.stat().st_size < 2.5e6
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("archive/data/0").file_size > 2.3e9
    _refused_cheaply(path, PickleTooLarge, match="archive/data/0")


def test_budget_is_four_times_the_file_plus_16_mib():
    budget = Budget(1000)
    assert budget.limit == BUDGET_FACTOR * 1000 + BUDGET_SLACK == 4 * 1000 + (16 << 20)
    budget.charge(budget.limit, "all of it")
    with pytest.raises(PickleTooLarge):
        budget.charge(1, "one more byte")


def test_real_formats_stay_within_the_budget(tmp_path):
    path = tmp_path / "ema_audio_F02.pkl"
    real_format.write_ema_audio(path, {"F02_B01_S18_R01_N.mat": 200_000})
    assert load_dataframe(path).AUDIO[0].shape == (200_000,)  # 800 kB of audio, no slack used
    assert len(safe_load(FIXTURES / "frame_states_tiny.pkl")) == 2


def test_class_pollution_is_refused(tmp_path):
    path = tmp_path / "x.pkl"
    path.write_bytes(hostile.class_pollution())  # BUILD on the class pandas.Index
    with pytest.raises(UnsafePickleError, match="class-pollution"):
        safe_load(path)
    assert pd.Index([1, 1]).is_unique is False
    assert "is_unique" not in vars(pd.Index) or not isinstance(vars(pd.Index)["is_unique"], bool)


def test_state_is_only_set_on_data_objects(tmp_path):
    body = hostile.call(hostile.glob("builtins", "set")) + b"}" + b"b"  # set().__setstate__({})
    path = tmp_path / "x.pkl"
    path.write_bytes(hostile.pickle_of(body))
    with pytest.raises(UnsafePickleError, match="sets the state of a set"):
        safe_load(path)


@pytest.mark.parametrize(
    ("storage", "itemsize", "kind"),
    [("BFloat16Storage", 2, "bfloat16"), ("ComplexFloatStorage", 8, "complex64")],
)
def test_bfloat16_and_complex_tensors_are_unsupported_not_unsafe(tmp_path, storage, itemsize, kind):
    path = tmp_path / "frame_states_p1_test.pkl"
    path.write_bytes(hostile.tensor_of_storage(storage, 3, itemsize))
    with pytest.raises(UnsupportedPickleFormat, match=f"Unsupported format: torch {kind}") as info:
        safe_load(path)
    assert not isinstance(info.value, UnsafePickleError)


def test_torch_made_bfloat16_is_unsupported(tmp_path):
    torch = pytest.importorskip("torch", reason="torch makes the bfloat16 files")
    x = torch.ones(2, 3, dtype=torch.bfloat16)
    plain, archive = tmp_path / "plain.pkl", tmp_path / "archive.pt"
    plain.write_bytes(pickle.dumps({0: {"a": [x[0], x[1]]}}))
    torch.save({0: {"a": x}}, archive)
    for path in (plain, archive):
        with pytest.raises(UnsupportedPickleFormat, match="bfloat16"):
            safe_load(path)


@pytest.mark.parametrize("protocol", [0, 1, 2])
def test_old_protocol_dataframes_are_unsupported_not_unsafe(tmp_path, protocol):
    source = tmp_path / "source.pkl"
    real_format.write_ema_audio(source, real_format.TINY_AUDIO_LENGTHS)
    path = tmp_path / "ema_audio_F02.pkl"
    pd.read_pickle(source).to_pickle(path, protocol=protocol)  # protocol 2: _codecs.encode
    with pytest.raises(UnsupportedPickleFormat, match="Unsupported format: a protocol"):
        load_dataframe(path)


def test_handmade_torch_streams_match_torch(tmp_path):
    """The hostile builders write torch's formats: torch itself reads a benign one the same."""
    torch = pytest.importorskip("torch", reason="torch checks the hand-made format")
    values = np.arange(6, dtype="<f4")
    stream = hostile.legacy_stream("FloatStorage", values.tobytes(), 6)
    data = hostile.pickle_of(hostile.tensor(stream, (2, 3), (3, 1)))
    path = tmp_path / "t.pkl"
    path.write_bytes(data)
    np.testing.assert_array_equal(safe_load(path), pickle.loads(data).numpy())
    member = ("archive/data/0", values.tobytes(), 0, 24, zlib.crc32(values.tobytes()))
    path.write_bytes(hostile.torch_zip("FloatStorage", 6, member))
    np.testing.assert_array_equal(safe_load(path), torch.load(path, weights_only=True).numpy())


def test_nested_torch_streams_are_refused_without_recursion(tmp_path):
    path = tmp_path / "frame_states_p1_test.pkl"
    path.write_bytes(hostile.nested_load_from_bytes(levels=1500))
    with pytest.raises(ValueError, match="nested"):
        safe_load(path)
