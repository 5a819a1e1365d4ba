"""The Dataset object, the cache format, where the cache is looked for, and load_dataset."""

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tutorial_utils import Dataset, dataset, load_dataset, sentence_id
from tutorial_utils.frames import EMA_TABLE_COLUMNS
from tutorial_utils.io import cache
from tutorial_utils.io.cli import main
from tutorial_utils.sentences import sentence_means


def SAMPLE():  # noqa: N802 (stands in for the sample's tables)
    return dict(source="sample", description="", recordings={}, ema={}, hidden_states={})


CACHE_FILE = cache.__file__


def _recordings(prefix, ids, n=1040):
    names = [f"{prefix}_B01_{s}_R01_N.mat" for s in ids]
    audio = [np.full(n, i, dtype=np.float32) for i, _ in enumerate(ids)]
    return pd.DataFrame({"FILENAME": names, "SENTENCE": list(ids), "AUDIO": audio})


def _ema(table):
    pairs = zip(table.FILENAME, table.SENTENCE, strict=True)
    rows = [[n, s, t, *[0.0] * 12] for n, s in pairs for t in (0, 1)]
    return pd.DataFrame(rows, columns=list(EMA_TABLE_COLUMNS))


def _states(table, skip=()):
    return {layer: {n: np.full((3, 4), 10 * layer + i, np.float32) for i, n in
                    enumerate(table.FILENAME) if n not in skip} for layer in range(3)}  # fmt: skip


def _dataset(lazy_calls=None, skip=()):
    recs = {"F02": _recordings("F02", ["S18", "S33", "S04"]),
            "M02": _recordings("M02", ["S04", "S18"])}  # fmt: skip
    lazy = lambda: (lazy_calls or []).append(1) or _states(recs["M02"])  # noqa: E731
    return Dataset(source="sample", description="A tiny synthetic test set.", recordings=recs,
                   ema={p: _ema(t) for p, t in recs.items()},
                   hidden_states={"F02": _states(recs["F02"], skip=skip), "M02": lazy})  # fmt: skip


def test_dataset_accessors_lazy_states_and_errors():
    calls = [0]
    ds = _dataset(calls)
    assert ds.participants == ["F02", "M02"] and ds.layers == [0, 1, 2]
    assert ds.source == "sample" and "synthetic" in repr(ds)
    assert ds.audio("F02", "F02_B01_S33_R01_N.mat").dtype == np.float32
    assert ds.hidden_state("F02", 2, "F02_B01_S33_R01_N.mat")[0, 0] == 21
    assert calls == [0]
    ds.hidden_states("M02")
    ds.hidden_states("M02")
    assert calls == [0, 1]  # loaded lazily, once
    assert list(ds.ema("F02").columns) == list(EMA_TABLE_COLUMNS)
    assert ds.pick_recordings() == [(p, n) for p in ds.participants for n in ds.filenames(p)]
    with pytest.raises(KeyError, match="F02, M02"):
        ds.recordings("X01")
    with pytest.raises(KeyError, match="valid: 0, 1, 2"):
        ds.hidden_state("F02", 13, "F02_B01_S18_R01_N.mat")
    with pytest.raises(KeyError, match="F02_B01_S18_R01_N.mat"):
        ds.audio("F02", "nope.mat")


def test_recordings_without_hidden_states_are_skipped_where_states_are_needed():
    assert sentence_id("F02_B01_S18_R01_N.mat") == sentence_id("SYN-F_B01_S18_R01_N") == "B01_S18"
    with pytest.raises(ValueError, match="B01_S18"):
        sentence_id("nothing.mat")
    ds = _dataset(skip={"F02_B01_S33_R01_N.mat"})  # like the real --frame-states cache
    assert len(ds.filenames("F02")) == 3
    assert ds.filenames("F02", with_hidden_states=True) == ["F02_B01_S18_R01_N.mat",
                                                           "F02_B01_S04_R01_N.mat"]  # fmt: skip
    shared = ds.shared_sentences("F02", "M02")
    assert list(shared.columns) == ["SENTENCE_ID", "SENTENCE", "FILENAME_A", "FILENAME_B"]
    assert shared.SENTENCE_ID.tolist() == ["B01_S18", "B01_S04"]
    assert shared.FILENAME_B.tolist() == ["M02_B01_S18_R01_N.mat", "M02_B01_S04_R01_N.mat"]
    means = sentence_means(ds, "F02", 1, shared.FILENAME_A)
    np.testing.assert_array_equal(means[:, 0], [10, 12])
    assert ds.shared_sentences("F02", "M02", with_hidden_states=False).shape[0] == 2


def _write_cache(directory):
    ds = _dataset()
    tables = [
        (p, (ds.recordings(p), ds.ema(p), {cache.hidden_state_key(layer, n): a
             for layer, per in ds.hidden_states(p).items() for n, a in per.items()}))
        for p in ds.participants
    ]  # fmt: skip
    cache.write_cache(directory, tables, source="real", description="test")
    return ds


def _file(directory, rel):
    return next(directory.glob(f"cache-*/{rel}"))


def test_cache_round_trip(tmp_path):
    original = _write_cache(tmp_path)
    ds = load_dataset("real", tmp_path)
    assert ds.source == "real" and ds.participants == ["F02", "M02"] and ds.layers == [0, 1, 2]
    for p in ds.participants:
        pd.testing.assert_frame_equal(ds.ema(p), original.ema(p))
        for name in original.filenames(p):
            np.testing.assert_array_equal(ds.audio(p, name), original.audio(p, name))
            state = original.hidden_state(p, 2, name)
            np.testing.assert_array_equal(ds.hidden_state(p, 2, name), state)
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("*.pkl"))
    assert load_dataset("auto", tmp_path).source == "real"


def _flip_a_byte(path):
    """Change one byte in the middle of a file (same size)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _tamper_manifest(directory, key, value):
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest[key] = value(manifest) if callable(value) else value
    (directory / "manifest.json").write_text(json.dumps(manifest))


CHANGED, MANIFEST = "F02/ema.csv is not the file that was written", "not a manifest of this"


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda d: _flip_a_byte(_file(d, "F02/ema.csv")), CHANGED),
        (lambda d: _file(d, "F02/audio.npz").unlink(), "No such file"),
        (lambda d: _flip_a_byte(_file(d, "F02/audio.npz")), "audio.npz is not the file"),
        (lambda d: (d / "manifest.json").write_text("[1, 2"), MANIFEST),
        (lambda d: _tamper_manifest(d, "files", ["x"]), "TypeError"),
        (lambda d: _tamper_manifest(d, "participants", ["../O"]), MANIFEST),
        (lambda d: _tamper_manifest(d, "participants", "F02"), MANIFEST),
        (lambda d: _tamper_manifest(d, "generation", "../x"), "No such file"),
        (lambda d: _tamper_manifest(d, "format_version", 3), MANIFEST),
    ],
    ids=["csv", "missing", "npz", "json", "files", "outside", "str", "generation", "version"],
)  # fmt: skip
def test_a_tampered_cache_gives_one_message_and_auto_falls_back(
    tmp_path, monkeypatch, capsys, tamper, reason
):
    _write_cache(tmp_path)
    tamper(tmp_path)
    with pytest.raises(FileNotFoundError, match="python -m tutorial_utils.io") as info:
        load_dataset("real", tmp_path)
    assert reason in str(info.value)
    monkeypatch.setattr(dataset, "sample_tables", SAMPLE)
    with pytest.warns(UserWarning, match="incomplete or damaged"):
        assert load_dataset("auto", tmp_path).source == "sample"
    assert main(["--list", "--data-dir", str(tmp_path)]) == 2  # one paragraph, no traceback
    assert reason in " ".join(capsys.readouterr().err.split())


def test_hidden_states_are_hashed_when_read_and_a_replaced_cache_says_so(tmp_path, capsys):
    _write_cache(tmp_path)
    _flip_a_byte(_file(tmp_path, "M02/hidden_states.npz"))
    ds = load_dataset("real", tmp_path)  # the hidden states are read (and hashed) on first use
    with pytest.raises(FileNotFoundError, match="M02/hidden_states.npz is not the file"):
        ds.hidden_states("M02")
    assert main(["--list", "--data-dir", str(tmp_path)]) == 2
    assert "M02/hidden_states.npz is not the file" in " ".join(capsys.readouterr().err.split())
    _write_cache(tmp_path)  # a later conversion into the same folder: not 'damaged'
    with pytest.raises(FileNotFoundError, match=r"replaced by a newer conversion.*load_dataset"):
        ds.hidden_states("F02")


# -- where the cache goes -----------------------------------------------------------------------


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """As when pip-installed (no checkout around the package), with an empty home."""
    monkeypatch.delenv("TUTORIAL_DATA_DIR", raising=False)
    site = tmp_path / "site-packages/tutorial_utils/io/cache.py"
    monkeypatch.setattr(cache, "__file__", str(site))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(dataset, "sample_tables", SAMPLE)
    return tmp_path


def test_where_the_cache_goes(installed, monkeypatch):
    assert cache.find_data_dir() == (installed / "home" / ".cache" / "speech-cka-tutorial", "user")
    drive = installed / "drive" / "MyDrive" / "speech-cka-tutorial-data"
    pointer = cache.remember_data_dir(drive)
    assert pointer == Path(os.environ["XDG_CONFIG_HOME"]) / "speech-cka-tutorial" / "data_dir"
    assert pointer.read_text() == f"{drive.resolve()}\n"
    assert cache.find_data_dir() == (drive.resolve(), "pointer")
    monkeypatch.setenv("TUTORIAL_DATA_DIR", " ")  # blank: unset (the command refuses it)
    assert cache.find_data_dir() == (drive.resolve(), "pointer")
    monkeypatch.setenv("TUTORIAL_DATA_DIR", str(installed / "env"))
    assert cache.find_data_dir() == (installed / "env", "env")
    monkeypatch.delenv("TUTORIAL_DATA_DIR")
    pointer.unlink()
    monkeypatch.setattr(cache, "__file__", CACHE_FILE)
    assert cache.find_data_dir() == (Path(CACHE_FILE).resolve().parents[2] / "data", "checkout")


def test_the_record_is_read_exactly_and_what_is_no_folder_in_it_is_ignored(installed, capsys):
    folder = installed / "drive" / "data "  # the trailing space is part of the folder's name
    pointer = cache.remember_data_dir(folder)
    assert cache.find_data_dir() == (folder.resolve(), "pointer")
    for garbage in (b"/x\0y\n", b"relative/path\n", b"/a\n/b\n"):
        pointer.write_bytes(garbage)
        with pytest.warns(UserWarning, match=r"data_dir holds no folder's path: ignored"):
            assert cache.find_data_dir()[1] == "user"
            assert load_dataset().source == "sample"  # not 'embedded null byte'
    assert main(["--list", "--data-dir", str(folder)]) == 2  # the command: one plain line
    said = f"{cache.COMMAND}: {pointer} holds no folder's path: ignored.\n"
    assert capsys.readouterr().err.startswith(said)


def test_no_cache_by_default_is_silent_but_a_named_or_recorded_one_warns(installed, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_dataset().source == "sample"
    wanted = installed / "nowhere"
    with pytest.warns(UserWarning, match=r"no manifest.json.* \(named by load_dataset\(data_dir"):
        assert load_dataset(data_dir=wanted).source == "sample"
    drive = installed / "drive" / "MyDrive" / "speech-cka-tutorial-data"
    cache.remember_data_dir(drive)
    with pytest.warns(UserWarning) as caught:
        assert load_dataset().source == "sample"
    message = " ".join(str(caught[0].message).split())
    assert str(drive) in message and str(cache.pointer_file()) in message
    assert "mount Google Drive" in message
    assert f"python -m tutorial_utils.io --data-dir {drive}" in message
    _write_cache(drive)
    _tamper_manifest(drive, "format_version", 99)  # there, but newer: no "mount" hint
    with pytest.warns(UserWarning, match="newer version") as caught:
        assert load_dataset().source == "sample"
    assert "mount" not in str(caught[0].message)
    monkeypatch.setenv("TUTORIAL_DATA_DIR", str(wanted))
    with pytest.warns(UserWarning, match=r"named by \$TUTORIAL_DATA_DIR"):
        assert load_dataset().source == "sample"
    with pytest.raises(ValueError, match="source must be"):
        load_dataset("internet")


def test_the_command_refuses_a_recorded_cache_that_is_gone(installed, capsys):
    drive = installed / "drive" / "MyDrive" / "speech-cka-tutorial-data"
    cache.remember_data_dir(drive)
    assert main(["--quiet"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Google Drive mounted" in err and "--data-dir" in err and "Traceback" not in err
    assert not drive.exists()  # nothing written where the mount should be


def test_iter_recordings_streams_one_recording_at_a_time(tmp_path):
    original = _write_cache(tmp_path)
    chunks = list(cache.iter_recordings(tmp_path, "M02"))
    assert len(chunks) == len(original.filenames("M02"))
    for chunk, name in zip(chunks, original.filenames("M02"), strict=True):
        for layer in original.layers:
            np.testing.assert_array_equal(chunk[layer], original.hidden_state("M02", layer, name))
