"""The npy hidden-state store: atomic per-recording files, lazy memmap reads, streaming."""

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tutorial_utils import load_dataset
from tutorial_utils.dataset import Dataset
from tutorial_utils.frames import EMA_TABLE_COLUMNS, n_model_frames
from tutorial_utils.io import cache, store
from tutorial_utils.io.files import sha256_file

FIXTURES = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location("real_format", FIXTURES / "real_format.py")
real_format = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(real_format)


def _states(layers=3, lengths=(5, 3, 8), dim=4, seed=0):
    """``{filename: [(T, dim) float32 per layer]}``."""
    rng = np.random.default_rng(seed)
    return {
        f"F02_B01_S{i:02d}_R01_N.mat": [
            rng.standard_normal((n, dim)).astype(np.float32) for _ in range(layers)
        ]
        for i, n in enumerate(lengths)
    }


def test_write_then_read_lazily(tmp_path):
    states = _states()
    folder = tmp_path / "F02" / store.STORE_DIR
    order = list(states)[::-1]
    index_path = store.write_store(folder, states.items(), order=order)
    index = json.loads(index_path.read_text())
    assert [r["filename"] for r in index["recordings"]] == order and index["layers"] == [0, 1, 2]
    for record in index["recordings"]:
        name = record["filename"]
        assert sha256_file(folder / record["file"]) == record["sha256"]
        assert record["shape"] == [3, len(states[name][0]), 4] and record["dtype"] == "float32"
    lazy = store.open_store(folder, verify_hashes=True)
    assert list(lazy) == [0, 1, 2] and list(lazy[1]) == order
    for name, layers in states.items():
        for layer, array in enumerate(layers):
            value = lazy[layer][name]
            assert isinstance(value, np.memmap) and not value.flags.writeable
            np.testing.assert_array_equal(value, array)


def test_layer_dicts_keep_their_layer_numbers(tmp_path):
    arrays = {2: np.ones((3, 2)), 5: np.zeros((3, 2))}
    store.write_store(tmp_path, [("a.mat", arrays)])
    lazy = store.open_store(tmp_path)
    assert list(lazy) == [2, 5]
    np.testing.assert_array_equal(lazy[5]["a.mat"], np.zeros((3, 2), np.float32))
    with pytest.raises(KeyError):
        lazy[0]


def test_reading_one_recording_maps_only_its_file(tmp_path, monkeypatch):
    states = _states()
    store.write_store(tmp_path, states.items())
    opened = []
    real_load = np.load

    def counting_load(path, *args, **kwargs):
        opened.append(Path(path).name)
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(store.np, "load", counting_load)
    lazy = store.open_store(tmp_path)
    names = list(states)
    per_file = lazy[2]
    assert names[1] in per_file and len(per_file) == 3 and list(per_file) == names
    assert opened == []  # listing and membership read nothing
    values = [lazy[layer][names[1]] for layer in lazy]
    assert opened == [store.store_file_name(names[1])]  # one file, mapped once for all layers
    assert all(isinstance(v, np.memmap) for v in values)


def _dataset(hidden_states):
    names = [*hidden_states["F02"]().filenames, "F02_B01_S99_R01_N.mat"]  # last: no states
    recordings = pd.DataFrame(
        {"FILENAME": names, "SENTENCE": "A sentence.", "AUDIO": [np.zeros(800, np.float32)] * 4}
    )
    ema = pd.DataFrame(columns=list(EMA_TABLE_COLUMNS))
    return Dataset(
        source="real",
        description="test",
        recordings={"F02": recordings},
        ema={"F02": ema},
        hidden_states=hidden_states,
    )


def test_iter_recordings_yields_every_recording_once(tmp_path):
    states = _states()
    store.write_store(tmp_path, states.items())
    ds = _dataset({"F02": lambda: store.open_store(tmp_path)})
    steps = list(store.iter_recordings(ds, "F02"))
    assert len(steps) == len(states)
    for step, layers in zip(steps, states.values(), strict=True):
        assert sorted(step) == [0, 1, 2]
        for layer, array in step.items():
            np.testing.assert_array_equal(array, layers[layer])
    assert all(list(step) == [2] for step in store.iter_recordings(ds, "F02", layers=[2]))
    frames = sum(step[0].shape[0] for step in store.iter_recordings(ds, "F02"))
    assert frames == sum(layers[0].shape[0] for layers in states.values())


def test_damaged_store_is_reported(tmp_path):
    store.write_store(tmp_path, _states().items())
    files = [tmp_path / r["file"] for r in store.read_index(tmp_path)["recordings"]]
    files[0].write_bytes(files[0].read_bytes()[:-4])
    assert "size" in store.store_problems(tmp_path)[0]
    with pytest.raises(FileNotFoundError, match="--store npy"):
        store.open_store(tmp_path)
    data = bytearray(files[1].read_bytes())
    data[-1] ^= 0xFF
    files[1].write_bytes(bytes(data))
    assert not any("sha256" in p for p in store.store_problems(tmp_path))
    assert any("sha256" in p for p in store.store_problems(tmp_path, verify_hashes=True))
    files[2].unlink()
    assert any("missing" in p for p in store.store_problems(tmp_path))


def test_rewrite_removes_stale_files_and_a_failed_write_leaves_no_index(tmp_path):
    states = _states()
    store.write_store(tmp_path, states.items())
    first = dict(list(states.items())[:1])
    store.write_store(tmp_path, first.items())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [store.INDEX_NAME, *(store.store_file_name(n) for n in first)]
    )

    def killed():
        yield from states.items()
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        store.write_store(tmp_path, killed())
    with pytest.raises(FileNotFoundError):
        store.read_index(tmp_path)
    assert store.store_problems(tmp_path)


def test_bad_inputs_are_rejected(tmp_path):
    arrays = [np.zeros((3, 2))] * 2
    with pytest.raises(ValueError, match="layers"):
        store.write_store(tmp_path, [("a.mat", arrays), ("b.mat", arrays[:1])])
    with pytest.raises(ValueError, match="one shape"):
        store.write_store(tmp_path, [("a.mat", [np.zeros((3, 2)), np.zeros((4, 2))])])
    with pytest.raises(ValueError, match="twice"):
        store.write_store(tmp_path, [("a.mat", arrays), ("a.mat", arrays)])
    with pytest.raises(ValueError, match="No recordings"):
        store.write_store(tmp_path, [])


def test_unsafe_filenames_get_safe_distinct_files(tmp_path):
    names = ["a b.mat", "a_b.mat", "../x.mat", ".hidden"]
    files = [store.store_file_name(n) for n in names]
    assert len(set(files)) == 4 and not any("/" in f or f.startswith(".") for f in files)
    store.write_store(tmp_path, [(n, [np.full((2, 3), i)]) for i, n in enumerate(names)])
    lazy = store.open_store(tmp_path)
    assert [float(lazy[0][n][0, 0]) for n in names] == [0.0, 1.0, 2.0, 3.0]


# -- through the command line and load_dataset --------------------------------------------------


@pytest.fixture
def originals(tmp_path):
    folder = tmp_path / "ema_probing_data"
    folder.mkdir()
    lengths = real_format.TINY_AUDIO_LENGTHS
    real_format.write_ema_audio(folder / "ema_audio_F02.pkl", lengths)
    frames = {name: n_model_frames(n) for name, n in lengths.items()}
    real_format.write_ema_labels(folder / "ema_labels_F02.csv", frames)
    shutil.copy(FIXTURES / "frame_states_tiny.pkl", folder / "frame_states_p1_test.pkl")
    return folder


def _main(originals, cache_dir, *extra):
    from tutorial_utils.io.cli import main

    return main(["--from-dir", str(originals), "--data-dir", str(cache_dir), "--quiet", *extra])


def test_frame_states_into_the_store_and_back(tmp_path, originals):
    cache_dir = tmp_path / "cache"
    assert _main(originals, cache_dir, "--frame-states", "--store", "npy") == 0
    manifest = cache.read_manifest(cache_dir)
    generation = manifest["generation"]  # the store is part of the generation's transaction
    assert f"{generation}/F02/{store.STORE_INDEX}" in manifest["files"]
    assert manifest["layers"] == [0, 1]
    ds = load_dataset("real", cache_dir, verify_hashes=True)
    for index, (name, n) in enumerate(real_format.FRAME_FILES.items()):
        value = ds.hidden_state("F02", 1, name)
        assert isinstance(value, np.memmap)
        np.testing.assert_array_equal(value, real_format.expected_frames(1, index, n))
    assert len(list(store.iter_recordings(ds, "F02"))) == 2
    assert _main(originals, cache_dir, "--frame-states") == 0  # back to the npz default
    manifest = cache.read_manifest(cache_dir)
    files, generation = manifest["files"], manifest["generation"]
    assert f"{generation}/F02/hidden_states.npz" in files
    assert not [rel for rel in files if rel.endswith(store.STORE_INDEX)]
    assert not list(cache_dir.glob(f"*/F02/{store.STORE_DIR}"))  # the old store is gone
    assert not isinstance(load_dataset("real", cache_dir).hidden_state("F02", 1, name), np.memmap)


def test_extraction_streams_into_the_store(tmp_path, originals, monkeypatch):
    pytest.importorskip("torch", reason="re-extraction needs the extract extra")
    pytest.importorskip("transformers", reason="re-extraction needs the extract extra")
    from tutorial_utils.io import convert, extract

    model = real_format.tiny_model(feat_extract_norm="layer", do_stable_layer_norm=True)
    monkeypatch.setattr(extract, "load_model", lambda name: model)
    argv = ["--model", "tiny/layer-norm", "--device", "cpu", "--store", "npy"]
    assert _main(originals, tmp_path / "npy", *argv, "--batch-size", "2") == 0
    assert _main(originals, tmp_path / "npz", *argv[:4], "--batch-size", "1") == 0
    lazy, eager = load_dataset("real", tmp_path / "npy"), load_dataset("real", tmp_path / "npz")
    for name, n in real_format.TINY_AUDIO_LENGTHS.items():
        for layer in lazy.layers:
            value = lazy.hidden_state("F02", layer, name)
            assert isinstance(value, np.memmap) and value.shape == (n_model_frames(n), 16)
            np.testing.assert_allclose(value, eager.hidden_state("F02", layer, name), atol=1e-5)
    with monkeypatch.context() as patch:  # a rerun verifies and converts nothing
        patch.setattr(convert, "convert_participant", lambda *a, **k: pytest.fail("reconverted"))
        assert _main(originals, tmp_path / "npy", *argv) == 0
    stored = next((tmp_path / "npy").glob(f"gen-*/F02/{store.STORE_DIR}/*.npy"))
    stored.write_bytes(stored.read_bytes()[:-8])
    assert any("size" in p for p in cache.cache_problems(tmp_path / "npy"))
    assert _main(originals, tmp_path / "npy", *argv) == 0  # the rerun repairs it
    assert cache.cache_problems(tmp_path / "npy", verify_hashes=True) == []
