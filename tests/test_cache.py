"""The Dataset object, the cache format and load_dataset."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tutorial_utils import Dataset, load_dataset, loading, sentence_id
from tutorial_utils.frames import EMA_TABLE_COLUMNS
from tutorial_utils.io import cache, location
from tutorial_utils.io import files as io_files
from tutorial_utils.io import manifest as manifest_module
from tutorial_utils.io.cli import main
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
    ema.write_bytes(content[:-5] + b"99999")  # same size, other bytes: small files are hashed
    with pytest.raises(FileNotFoundError, match="F02/ema.csv has a wrong sha256"):
        load_dataset("real", tmp_path)


def test_large_files_are_hashed_on_request(tmp_path, monkeypatch):
    _write_cache(tmp_path)
    monkeypatch.setattr(manifest_module, "SMALL_FILE_BYTES", 100)  # the npz files count as large
    states = tmp_path / "M02" / "hidden_states.npz"
    _flip_last_data_byte(states)
    load_dataset("real", tmp_path)  # sizes and small files are fine
    with pytest.raises(FileNotFoundError, match="M02/hidden_states.npz has a wrong sha256"):
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
    repo = Path(location.__file__).resolve().parents[2]
    assert cache.default_data_dir() == repo / "data"
    # An installed package (no pyproject.toml beside it) must not write into site-packages.
    fake_package = tmp_path / "site-packages" / "tutorial_utils" / "io" / "location.py"
    monkeypatch.setattr(location, "__file__", str(fake_package))
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


def _flip_last_data_byte(npz_path):
    """Change one byte of the last array's data in an npz (same size, valid zip structure)."""
    import zipfile

    with zipfile.ZipFile(npz_path) as archive:
        info = archive.infolist()[-1]
    data = bytearray(npz_path.read_bytes())
    name_len = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.compress_size - 1] ^= 0x01
    npz_path.write_bytes(bytes(data))


# --------------------------------------------------------------------------------------------
# Tampered or broken caches (issue 11, items 3 and 8): one message, and "auto" falls back
# --------------------------------------------------------------------------------------------


def _tamper_manifest(directory, change):
    manifest = json.loads((directory / "manifest.json").read_text())
    change(manifest)
    (directory / "manifest.json").write_text(json.dumps(manifest))


def _set(key, value):
    return lambda manifest: manifest.__setitem__(key, value)


def _null_record(manifest):
    manifest["files"]["F02/ema.csv"] = None


def _outside_path(manifest):
    manifest["files"]["../OUTSIDE/ema.csv"] = manifest["files"].pop("F02/ema.csv")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_set("files", ["F02/ema.csv"]), "files are a list"),
        (_null_record, "record of F02/ema.csv is None"),
        (_set("participants", ["../OUTSIDE"]), "invalid participants ['../OUTSIDE']"),
        (_set("participants", "F02"), "lists no participants"),
        (_set("generation", "../x"), "names the generation"),
        (_outside_path, "unsafe path '../OUTSIDE/ema.csv'"),
        (_set("format_version", 99), "cache format 99"),
    ],
    ids=["files-list", "null-record", "outside", "str", "generation", "path", "version"],
)
def test_tampered_manifest(tmp_path, monkeypatch, change, reason):
    _write_cache(tmp_path)
    _tamper_manifest(tmp_path, change)
    with pytest.raises(FileNotFoundError, match="python -m tutorial_utils.io") as info:
        load_dataset("real", tmp_path)
    assert reason in str(info.value)
    sample = _dataset()
    monkeypatch.setattr(loading, "load_sample_dataset", lambda: sample)
    with pytest.warns(UserWarning, match="incomplete or damaged"):
        assert load_dataset("auto", tmp_path) is sample


def test_manifest_that_is_not_json(tmp_path, monkeypatch):
    _write_cache(tmp_path)
    (tmp_path / "manifest.json").write_text("[1, 2")
    sample = _dataset()
    monkeypatch.setattr(loading, "load_sample_dataset", lambda: sample)
    with pytest.warns(UserWarning, match="no readable manifest.json"):
        assert load_dataset("auto", tmp_path) is sample


def _rename_member(npz_path, old, new):
    """Rename an npz member in place (same length: the file keeps its size)."""
    assert len(old) == len(new)
    data = npz_path.read_bytes()
    assert data.count(old.encode()) == 2  # local header and central directory
    npz_path.write_bytes(data.replace(old.encode(), new.encode()))


@pytest.mark.parametrize("hash_small_files", [True, False])
def test_flipped_byte_or_renamed_member_in_audio(tmp_path, monkeypatch, hash_small_files):
    _write_cache(tmp_path)
    if not hash_small_files:  # the npz structure checks must catch it on their own
        monkeypatch.setattr(manifest_module, "SMALL_FILE_BYTES", 100)
    audio = tmp_path / "F02" / "audio.npz"
    original = audio.read_bytes()
    _rename_member(audio, "F02_B01_S33_R01_N.mat", "F02_B01_S99_R01_N.mat")
    with pytest.raises(FileNotFoundError, match="F02/audio.npz"):
        load_dataset("real", tmp_path)
    audio.write_bytes(original)
    _flip_last_data_byte(audio)
    with pytest.raises(FileNotFoundError, match="F02/audio.npz") as info:
        load_dataset("real", tmp_path)
    assert ("wrong sha256" if hash_small_files else "Bad CRC-32") in str(info.value)
    sample = _dataset()
    monkeypatch.setattr(loading, "load_sample_dataset", lambda: sample)
    with pytest.warns(UserWarning, match="damaged"):
        assert load_dataset("auto", tmp_path) is sample


def test_renamed_hidden_state_member(tmp_path, monkeypatch):
    _write_cache(tmp_path)
    monkeypatch.setattr(manifest_module, "SMALL_FILE_BYTES", 100)
    states = tmp_path / "M02" / "hidden_states.npz"
    _rename_member(states, "L1__M02_B01_S04", "L1__M02_B01_S05")
    with pytest.raises(FileNotFoundError, match="unknown recordings"):
        load_dataset("real", tmp_path)


def test_damaged_hidden_states_read_lazily_give_one_message(tmp_path, monkeypatch):
    _write_cache(tmp_path)
    monkeypatch.setattr(manifest_module, "SMALL_FILE_BYTES", 100)
    _flip_last_data_byte(tmp_path / "M02" / "hidden_states.npz")
    ds = load_dataset("real", tmp_path)  # cheap checks pass; the states are read on first use
    with pytest.raises(FileNotFoundError, match="damaged .*M02/hidden_states.npz.*Bad CRC-32"):
        ds.hidden_states("M02")


def test_list_never_calls_an_unusable_cache_complete(tmp_path, monkeypatch, capsys):
    _write_cache(tmp_path)
    assert main(["--list", "--data-dir", str(tmp_path)]) == 0
    assert "status: complete (--verify also hashes the npz files)" in capsys.readouterr().out
    assert main(["--list", "--verify", "--data-dir", str(tmp_path)]) == 0
    assert "every byte verified by sha256" in capsys.readouterr().out
    monkeypatch.setattr(manifest_module, "SMALL_FILE_BYTES", 100)
    _flip_last_data_byte(tmp_path / "M02" / "hidden_states.npz")
    assert main(["--list", "--verify", "--data-dir", str(tmp_path)]) == 1
    assert "status: UNUSABLE" in capsys.readouterr().out
    _rename_member(tmp_path / "F02" / "audio.npz", "F02_B01_S33_R01_N", "F02_B01_S99_R01_N")
    assert main(["--list", "--data-dir", str(tmp_path)]) == 1  # fails to load: not complete
    out = capsys.readouterr().out
    assert "status: UNUSABLE" in out and "F02/audio.npz" in out
    _tamper_manifest(tmp_path, _set("files", ["x"]))
    assert main(["--list", "--data-dir", str(tmp_path)]) == 1  # no traceback on a bad manifest
    assert "files are a list" in capsys.readouterr().out
    (tmp_path / "manifest.json").write_text("{not json")
    assert main(["--list", "--data-dir", str(tmp_path)]) == 1
    assert "UNUSABLE" in capsys.readouterr().out
