"""Restricted unpickling: real formats load (without torch), anything else is refused."""

import importlib.util
import io
import os
import pickle
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tutorial_utils.io.safe_pickle import UnsafePickleError, load_dataframe, safe_load

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
