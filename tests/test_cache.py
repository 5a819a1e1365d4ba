"""The Dataset object, the cache format and load_dataset."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tutorial_utils import Dataset, load_dataset, loading, sentence_id
from tutorial_utils.frames import EMA_TABLE_COLUMNS
from tutorial_utils.io import cache
from tutorial_utils.io import files as io_files
from tutorial_utils.sentences import sentence_means


def _recordings(prefix, ids, n=1040):
    names = [f"{prefix}_B01_{s}_R01_N.mat" for s in ids]
    audio = [np.full(n, i, dtype=np.float32) for i, _ in enumerate(ids)]
    return pd.DataFrame({"FILENAME": names, "SENTENCE": list(ids), "AUDIO": audio})


def _ema(table):
    pairs = zip(table.FILENAME, table.SENTENCE, strict=True)
    rows = [[n, s, t, *[0.0] * 12] for n, s in pairs for t in (0, 1)]
    return pd.DataFrame(rows, columns=list(EMA_TABLE_COLUMNS))


def _states(table, layers=3, dim=4):
    return {
        layer: {
            n: np.full((3, dim), 10 * layer + i, np.float32) for i, n in enumerate(table.FILENAME)
        }
        for layer in range(layers)
    }


def _dataset(lazy_calls=None):
    recs = {
        "F02": _recordings("F02", ["S18", "S33", "S04"]),
        "M02": _recordings("M02", ["S04", "S18"]),
    }

    def lazy():
        if lazy_calls is not None:
            lazy_calls.append(1)
        return _states(recs["M02"])

    return Dataset(
        source="sample",
        description="A tiny synthetic test set.",
        recordings=recs,
        ema={p: _ema(t) for p, t in recs.items()},
        hidden_states={"F02": _states(recs["F02"]), "M02": lazy},
    )


def test_sentence_id():
    assert sentence_id("F02_B01_S18_R01_N.mat") == "B01_S18"
    assert sentence_id("SYN-F_B01_S18_R01_N.mat") == "B01_S18"
    with pytest.raises(ValueError, match="B01_S18"):
        sentence_id("nothing.mat")


def test_feature_keys_round_trip():
    key = cache.hidden_state_key(7, "F02_B01_S18_R01_N.mat")
    assert key == "L7__F02_B01_S18_R01_N.mat"
    assert cache.parse_hidden_state_key(key) == (7, "F02_B01_S18_R01_N.mat")
    with pytest.raises(ValueError):
        cache.parse_hidden_state_key("audio")


def test_dataset_accessors():
    calls = []
    ds = _dataset(calls)
    assert ds.participants == ["F02", "M02"] and ds.layers == [0, 1, 2] and ds.n_layers == 3
    assert ds.source == "sample" and "synthetic" in repr(ds)
    assert ds.audio("F02", "F02_B01_S33_R01_N.mat").dtype == np.float32
    assert ds.hidden_state("F02", 2, "F02_B01_S33_R01_N.mat")[0, 0] == 21
    assert calls == []
    ds.hidden_states("M02")
    ds.hidden_states("M02")
    assert calls == [1]  # loaded lazily, once
    assert list(ds.ema("F02").columns) == list(EMA_TABLE_COLUMNS)


def test_shared_sentences_and_means():
    ds = _dataset()
    shared = ds.shared_sentences("F02", "M02")
    assert list(shared.columns) == ["SENTENCE_ID", "SENTENCE", "FILENAME_A", "FILENAME_B"]
    assert shared.SENTENCE_ID.tolist() == ["B01_S18", "B01_S04"]
    assert shared.FILENAME_B.tolist() == ["M02_B01_S18_R01_N.mat", "M02_B01_S04_R01_N.mat"]
    means = sentence_means(ds, "F02", 1, shared.FILENAME_A)
    assert means.dtype == np.float64 and means.shape == (2, 4)
    np.testing.assert_array_equal(means[:, 0], [10, 12])
    assert sentence_means(ds, "M02", 0).shape == (2, 4)


def test_dataset_errors():
    ds = _dataset()
    with pytest.raises(KeyError, match="F02, M02"):
        ds.recordings("X01")
    with pytest.raises(KeyError, match="valid: 0, 1, 2"):
        ds.hidden_state("F02", 13, "F02_B01_S18_R01_N.mat")
    with pytest.raises(KeyError, match="F02_B01_S18_R01_N.mat"):
        ds.audio("F02", "nope.mat")
    recs = {"F02": _recordings("F02", ["S18"])}
    with pytest.raises(ValueError, match="expected exactly"):
        Dataset(
            source="real",
            description="",
            recordings=recs,
            ema={"F02": _ema(recs["F02"]).drop(columns="TIMESTEP")},
            hidden_states={"F02": {}},
        )
    with pytest.raises(ValueError, match="give every participant"):
        Dataset(source="real", description="", recordings=recs, ema={}, hidden_states={})


def _write_cache(directory):
    ds = _dataset()
    files = {}
    for p in ds.participants:
        paths = cache.write_recordings(directory, p, ds.recordings(p))
        paths.append(cache.write_ema(directory, p, ds.ema(p)))
        states = {
            cache.hidden_state_key(layer, n): a
            for layer, per in ds.hidden_states(p).items()
            for n, a in per.items()
        }
        paths.append(cache.write_hidden_states(directory, p, states))
        files.update({f.relative_to(directory).as_posix(): cache.file_record(f) for f in paths})
    manifest = {
        "format_version": cache.CACHE_FORMAT_VERSION,
        "complete": True,
        "source": "real",
        "participants": ds.participants,
        "files": files,
        "layers": [0, 1, 2],
    }
    io_files.write_json(directory / cache.MANIFEST_NAME, manifest)
    return ds


def test_cache_round_trip(tmp_path):
    original = _write_cache(tmp_path)
    ds = load_dataset("real", tmp_path, verify_hashes=True)
    assert ds.source == "real" and ds.participants == ["F02", "M02"] and ds.n_layers == 3
    for p in ds.participants:
        pd.testing.assert_frame_equal(ds.ema(p), original.ema(p))
        for name in original.filenames(p):
            np.testing.assert_array_equal(ds.audio(p, name), original.audio(p, name))
            np.testing.assert_array_equal(
                ds.hidden_state(p, 2, name), original.hidden_state(p, 2, name)
            )
    assert not list(tmp_path.rglob("*.tmp"))
    assert not list(tmp_path.rglob("*.pkl"))
    assert load_dataset("auto", tmp_path).source == "real"


def test_incomplete_cache_is_refused(tmp_path):
    _write_cache(tmp_path)
    ema = tmp_path / "F02" / "ema.csv"
    content = ema.read_bytes()
    ema.write_bytes(content[:-5])  # truncated: caught by the size check
    with pytest.raises(FileNotFoundError, match="python -m tutorial_utils.io"):
        load_dataset("real", tmp_path)
    ema.write_bytes(content[:-5] + b"99999")  # same size, other bytes: needs the hash
    load_dataset("real", tmp_path)
    with pytest.raises(FileNotFoundError, match="wrong sha256"):
        load_dataset("real", tmp_path, verify_hashes=True)


def test_unfinished_manifest_is_refused(tmp_path):
    _write_cache(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["complete"] = False
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FileNotFoundError, match="did not finish"):
        load_dataset("real", tmp_path)


def test_missing_cache_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m tutorial_utils.io"):
        load_dataset("real", tmp_path / "nothing")
    with pytest.raises(ValueError, match="source must be"):
        load_dataset("internet")


def test_auto_falls_back_to_sample(tmp_path, monkeypatch):
    sample = _dataset()
    monkeypatch.setattr(loading, "load_sample_dataset", lambda: sample)
    with pytest.warns(UserWarning, match="holds no real-data cache"):  # asked for, not there
        assert load_dataset("auto", tmp_path) is sample
    _write_cache(tmp_path)
    (tmp_path / "F02" / "audio.npz").unlink()
    with pytest.warns(UserWarning, match="incomplete"):
        assert load_dataset("auto", tmp_path) is sample
    monkeypatch.setenv("TUTORIAL_DATA_DIR", str(tmp_path))
    assert cache.default_data_dir() == tmp_path


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "x.npz"

    def boom(handle):
        handle.write(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        io_files.atomic_write(target, boom)
    assert list(tmp_path.iterdir()) == []
    io_files.write_npz(target, {"a": np.arange(3)})
    with np.load(target) as npz:
        np.testing.assert_array_equal(npz["a"], np.arange(3))


def test_default_cache_is_the_repo_data_dir_or_a_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("TUTORIAL_DATA_DIR", raising=False)
    repo = Path(cache.__file__).resolve().parents[2]
    assert cache.default_data_dir() == repo / "data"
    # An installed package (no pyproject.toml beside it) must not write into site-packages.
    fake_package = tmp_path / "site-packages" / "tutorial_utils" / "io" / "cache.py"
    monkeypatch.setattr(cache, "__file__", str(fake_package))
    monkeypatch.setattr(Path, "home", lambda: tmp_path / "home")
    assert cache.default_data_dir() == tmp_path / "home" / ".cache" / "speech-cka-tutorial"


def test_recordings_without_hidden_states_are_skipped_where_states_are_needed():
    # Like the real --frame-states cache: audio and EMA for more recordings than have states.
    recs = {
        "F02": _recordings("F02", ["S18", "S33", "S04"]),
        "M02": _recordings("M02", ["S33", "S04"]),
    }
    states = _states(recs["F02"])
    for per_file in states.values():
        per_file.pop("F02_B01_S33_R01_N.mat")
    ds = Dataset(
        source="real",
        description="test",
        recordings=recs,
        ema={p: _ema(t) for p, t in recs.items()},
        hidden_states={"F02": states, "M02": _states(recs["M02"])},
    )
    assert ds.filenames("F02") == [f"F02_B01_{s}_R01_N.mat" for s in ("S18", "S33", "S04")]
    assert ds.filenames("F02", with_hidden_states=True) == [
        "F02_B01_S18_R01_N.mat",
        "F02_B01_S04_R01_N.mat",
    ]
    assert sentence_means(ds, "F02", 0).shape[0] == 2
    shared = ds.shared_sentences("F02", "M02")
    assert shared["SENTENCE_ID"].tolist() == ["B01_S04"]  # F02's S33 has no hidden states
    everything = ds.shared_sentences("F02", "M02", with_hidden_states=False)
    assert everything["SENTENCE_ID"].tolist() == ["B01_S33", "B01_S04"]
