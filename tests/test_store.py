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


def test_the_cli_extracts_on_cuda_into_the_store(tmp_path, originals, monkeypatch):
    torch = pytest.importorskip("torch", reason="re-extraction needs the extract extra")
    pytest.importorskip("transformers", reason="re-extraction needs the extract extra")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA GPU")
    from tutorial_utils.io import extract

    extractor, model = real_format.tiny_model(feat_extract_norm="layer", do_stable_layer_norm=True)
    monkeypatch.setattr(extract, "load_model", lambda name: (extractor, model))
    argv = ["--model", "tiny/layer-norm", "--store", "npy", "--batch-size", "2"]
    assert _main(originals, tmp_path / "gpu", *argv, "--device", "cuda") == 0
    assert next(model.parameters()).device.type == "cuda"
    assert _main(originals, tmp_path / "cpu", *argv, "--device", "cpu") == 0
    gpu, cpu = load_dataset("real", tmp_path / "gpu"), load_dataset("real", tmp_path / "cpu")
    for name, n in real_format.TINY_AUDIO_LENGTHS.items():
        for layer in gpu.layers:
            value = gpu.hidden_state("F02", layer, name)
            assert isinstance(value, np.memmap) and value.shape == (n_model_frames(n), 16)
            expected = cpu.hidden_state("F02", layer, name)
            np.testing.assert_allclose(value, expected, atol=1e-4, rtol=0)


# -- the store in a cache generation (the data layer's transaction) -----------------------------

_io_spec = importlib.util.spec_from_file_location("io_setup", FIXTURES / "io_setup.py")
IO = importlib.util.module_from_spec(_io_spec)
_io_spec.loader.exec_module(IO)
S18 = "F02_B01_S18_R01_N.mat"
GOOD_S18 = real_format.tiny_audio(S18, real_format.TINY_AUDIO_LENGTHS[S18])


def main_cli(argv):
    from tutorial_utils.io.cli import main

    return main(argv)


def _npy_files(cache_dir, participant="F02"):
    return sorted(cache_dir.glob(f"gen-*/{participant}/{store.STORE_DIR}/*.npy"))


def _states_run(originals, cache_dir, *extra):
    return _main(originals, cache_dir, "--frame-states", *extra)


def test_unchanged_participants_keep_their_store_files_by_hard_link(tmp_path, capsys):
    folder = IO.write_m02(IO.write_f02(tmp_path / "originals"))
    cache_dir = tmp_path / "cache"
    assert _states_run(folder, cache_dir, "--store", "npy") == 0
    before = {p.name: p.stat().st_ino for p in _npy_files(cache_dir)}
    assert len(before) == 2
    labels = folder / "ema_labels_M02.csv"
    labels.write_text(labels.read_text().replace("-50.0", "-50.5"))  # only M02's input changes
    capsys.readouterr()
    argv = ["--frame-states", "--store", "npy", "--from-dir", str(folder)]
    assert main_cli([*argv, "--data-dir", str(cache_dir)]) == 0
    err = capsys.readouterr().err
    assert "F02: cache verified, carried over." in err and "Converting M02" in err
    assert {p.name: p.stat().st_ino for p in _npy_files(cache_dir)} == before  # linked
    manifest = cache.read_manifest(cache_dir)
    for p in ("F02", "M02"):
        assert f"{manifest['generation']}/{p}/{store.STORE_INDEX}" in manifest["files"]
    assert cache.cache_problems(cache_dir, verify_hashes=True) == []
    ds = load_dataset("real", cache_dir, verify_hashes=True)
    assert ds.ema("M02")["TR_X"].iloc[0] == -50.5
    assert isinstance(ds.hidden_state("F02", 1, S18), np.memmap)
    assert IO.leftovers(cache_dir) == [] and len(list(cache_dir.glob("gen-*"))) == 1


def test_a_full_disk_while_writing_the_store_keeps_the_old_cache(tmp_path, monkeypatch, capsys):
    from tutorial_utils.io import files as io_files

    cache_dir = tmp_path / "cache"
    assert _states_run(IO.write_f02(tmp_path / "first"), cache_dir) == 0
    second = IO.write_f02(tmp_path / "second", gain=0.5)
    real_write = io_files._write_chunk

    def disk_full(target, handle, data):
        if target.suffix == ".npy":  # csv, audio and EMA of the new generation are written
            raise OSError(28, "No space left on device")
        real_write(target, handle, data)

    monkeypatch.setattr(io_files, "_write_chunk", disk_full)
    assert _states_run(second, cache_dir, "--store", "npy") == 2
    assert "previous cache is unchanged" in " ".join(capsys.readouterr().err.split())
    ds = load_dataset("real", cache_dir, verify_hashes=True)
    np.testing.assert_array_equal(ds.audio("F02", S18), GOOD_S18)
    assert IO.leftovers(cache_dir) == [] and _npy_files(cache_dir) == []
    monkeypatch.setattr(io_files, "_write_chunk", real_write)
    assert _states_run(second, cache_dir, "--store", "npy") == 0
    ds = load_dataset("real", cache_dir, verify_hashes=True)
    audio = ds.audio("F02", S18)
    np.testing.assert_array_equal(audio, GOOD_S18 * np.float32(0.5))


def test_a_damaged_store_file_gives_one_message(tmp_path, originals, monkeypatch, capsys):
    from tutorial_utils import loading

    cache_dir = tmp_path / "cache"
    assert _states_run(originals, cache_dir, "--store", "npy") == 0
    stored = _npy_files(cache_dir)[0]
    data = bytearray(stored.read_bytes())
    data[:6] = b"NOTNPY"  # same size: only the hash (or reading it) tells
    stored.write_bytes(bytes(data))
    ds = load_dataset("real", cache_dir)  # sizes are fine; the file is mapped when read
    name = next(r["filename"] for r in store.read_index(stored.parent)["recordings"])
    with pytest.raises(cache.CacheUnusable, match=f"damaged .*{stored.name}"):
        ds.hidden_state("F02", 1, name)
    with pytest.raises(cache.CacheUnusable, match=f"{stored.name} has a wrong sha256"):
        load_dataset("real", cache_dir, verify_hashes=True)
    assert main_cli(["--list", "--verify", "--data-dir", str(cache_dir)]) == 1
    assert "UNUSABLE" in capsys.readouterr().out
    stored.unlink()
    sample = load_dataset("sample")
    monkeypatch.setattr(loading, "load_sample_dataset", lambda: sample)
    with pytest.warns(UserWarning, match="damaged"):
        assert load_dataset("auto", cache_dir) is sample
    assert _states_run(originals, cache_dir, "--store", "npy") == 0  # the rerun repairs it
    assert cache.cache_problems(cache_dir, verify_hashes=True) == []


@pytest.mark.parametrize(
    "change",
    [
        lambda index: index["recordings"][0].__setitem__("file", "../../OUTSIDE.npy"),
        lambda index: index["recordings"][0].__setitem__("shape", [5, 1, 1]),
        lambda index: index.__setitem__("recordings", {"a": 1}),
        lambda index: index.__setitem__("layers", None),
    ],
    ids=["path", "shape", "records", "layers"],
)
def test_a_malformed_index_gives_one_message(tmp_path, originals, capsys, change):
    cache_dir = tmp_path / "cache"
    assert _states_run(originals, cache_dir, "--store", "npy") == 0
    manifest = cache.read_manifest(cache_dir)
    rel = f"{manifest['generation']}/F02/{store.STORE_INDEX}"
    index = json.loads((cache_dir / rel).read_text())
    change(index)
    (cache_dir / rel).write_text(json.dumps(index))  # and the manifest vouches for it
    manifest["files"][rel] = {
        "sha256": sha256_file(cache_dir / rel),
        "size": len(json.dumps(index)),
    }
    (cache_dir / cache.MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(cache.CacheUnusable, match="index.json .*rerun the conversion"):
        load_dataset("real", cache_dir)
    assert main_cli(["--list", "--data-dir", str(cache_dir)]) == 1
    assert "UNUSABLE" in capsys.readouterr().out
    assert _states_run(originals, cache_dir, "--store", "npy") == 0  # the rerun rebuilds it
    assert cache.cache_problems(cache_dir, verify_hashes=True) == []


def test_a_store_in_the_layout_before_generations_is_read_then_replaced(tmp_path, originals):
    cache_dir = tmp_path / "cache"
    assert _states_run(originals, cache_dir, "--store", "npy") == 0
    manifest = cache.read_manifest(cache_dir)
    generation = manifest.pop("generation")
    (cache_dir / generation / "F02").rename(cache_dir / "F02")  # as the extract branch wrote it
    (cache_dir / generation).rmdir()
    manifest["files"] = {k.removeprefix(f"{generation}/"): v for k, v in manifest["files"].items()}
    (cache_dir / cache.MANIFEST_NAME).write_text(json.dumps(manifest))
    assert cache.cache_problems(cache_dir, verify_hashes=True) == []
    value = load_dataset("real", cache_dir).hidden_state("F02", 1, S18)
    assert isinstance(value, np.memmap)
    assert _states_run(originals, cache_dir, "--store", "npy") == 0  # nothing to do
    assert (cache_dir / "F02" / store.STORE_INDEX).is_file()
    assert _states_run(originals, cache_dir) == 0  # back to npz: a generation replaces it all
    assert not (cache_dir / "F02").exists() and len(list(cache_dir.glob("gen-*"))) == 1
    assert cache.cache_problems(cache_dir, verify_hashes=True) == []


def test_bad_values_streamed_into_the_store_stop_the_run(tmp_path, originals, monkeypatch, capsys):
    pytest.importorskip("torch", reason="re-extraction needs the extract extra")
    pytest.importorskip("transformers", reason="re-extraction needs the extract extra")
    from tutorial_utils.io import extract

    cache_dir = tmp_path / "cache"
    assert _states_run(originals, cache_dir) == 0
    manifest = (cache_dir / cache.MANIFEST_NAME).read_bytes()
    monkeypatch.setattr(extract, "load_model", lambda name: real_format.tiny_model(layers=1))
    real_forward = extract._forward

    def last_recording_nan(model, values):
        outputs = real_forward(model, values)
        if values[-1].size == max(real_format.TINY_AUDIO_LENGTHS.values()):  # streamed last
            outputs[-1] = [np.full_like(a, np.nan) for a in outputs[-1]]
        return outputs

    monkeypatch.setattr(extract, "_forward", last_recording_nan)
    capsys.readouterr()
    argv = ["--model", "tiny/random", "--device", "cpu", "--store", "npy"]
    assert _main(originals, cache_dir, *argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Traceback" not in err and f"{S18} layer 0 has NaN or infinite values" in err
    assert (cache_dir / cache.MANIFEST_NAME).read_bytes() == manifest  # the old cache stays
    assert IO.leftovers(cache_dir) == [] and _npy_files(cache_dir) == []
    np.testing.assert_array_equal(load_dataset("real", cache_dir).audio("F02", S18), GOOD_S18)
