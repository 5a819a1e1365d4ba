"""Features kept on disk: read back exactly, keyed by everything they depend on, never trusted
blindly (damaged, oversized or misshapen entries are recomputed), and optional."""

from __future__ import annotations

import os
import shutil
import threading
import zipfile

import numpy as np
import pytest

from tutorial_utils import targets
from tutorial_utils.frames import mfcc_frames
from tutorial_utils.io import cache, feature_cache
from tutorial_utils.io.feature_cache import FEATURE_CACHE_ENV, cached_features


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv(FEATURE_CACHE_ENV, str(tmp_path / "features"))
    return tmp_path / "features"


class Counting:
    """A compute function that counts its calls and returns a fixed float32 array."""

    def __init__(self, array):
        self.array, self.calls = array, 0

    def __call__(self):
        self.calls += 1
        return self.array.copy()


def _cached(audio, compute, shape=(5, 3), params=None, code="code"):
    return cached_features(
        "test", audio, compute, params=params or {"sr": 16000}, code=code, shape=shape
    )


def _audio(seed=0, n=4000):
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


def _entries(folder):
    return sorted((folder / "test").glob("*.npz"))


def test_a_kept_entry_is_read_back_exactly_without_recomputing(folder):
    compute = Counting(np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32))
    first = _cached(_audio(), compute)
    second = _cached(_audio(), compute)
    assert compute.calls == 1 and len(_entries(folder)) == 1
    np.testing.assert_array_equal(first, compute.array)
    np.testing.assert_array_equal(second, compute.array)
    assert second.dtype == np.float32


@pytest.mark.parametrize(
    "change",
    [
        {"audio": _audio(seed=2)},
        {"audio": _audio()[:-1]},
        {"audio": _audio().astype(np.float64)},
        {"params": {"sr": 8000}},
        {"code": "other code"},
    ],
    ids=["other audio", "shorter audio", "other dtype", "other params", "other code"],
)
def test_any_change_to_what_the_features_depend_on_gives_a_new_entry(folder, change):
    compute = Counting(np.ones((5, 3), np.float32))
    _cached(_audio(), compute)
    arguments = {"audio": _audio(), "params": None, "code": "code"} | change
    _cached(arguments["audio"], compute, params=arguments["params"], code=arguments["code"])
    assert compute.calls == 2 and len(_entries(folder)) == 2


GOOD = np.arange(15, dtype=np.float32).reshape(5, 3)
DAMAGE = {
    "truncate": lambda data: data[: len(data) // 2],
    "garbage": lambda data: b"not a zip file at all",
    "flip a data byte": lambda data: data.replace(GOOD.tobytes(), GOOD.tobytes()[::-1]),  # CRC
    "wrong shape": {"features": np.zeros((4, 3), np.float32)},
    "wrong dtype": {"features": np.zeros((5, 3), np.float64)},
    "two arrays": {"features": GOOD, "extra": GOOD},
    "not finite": {"features": np.full(GOOD.shape, np.nan, np.float32)},
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_an_unusable_entry_is_recomputed_and_replaced(folder, damage):
    compute = Counting(GOOD)
    _cached(_audio(), compute)
    (path,) = _entries(folder)
    if callable(DAMAGE[damage]):
        path.write_bytes(DAMAGE[damage](path.read_bytes()))
    else:
        np.savez(path, **DAMAGE[damage])
    result = _cached(_audio(), compute)
    assert compute.calls == 2
    np.testing.assert_array_equal(result, GOOD)
    np.testing.assert_array_equal(np.load(path)["features"], GOOD)  # replaced by a good entry


def test_an_entry_larger_than_its_shape_allows_is_not_read(folder, monkeypatch):
    compute = Counting(np.ones((5, 3), np.float32))
    _cached(_audio(), compute)
    (path,) = _entries(folder)
    path.write_bytes(path.read_bytes() + b"\0" * 5000)
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("an oversized entry was read"))
    _cached(_audio(), compute)
    assert compute.calls == 2


@pytest.mark.parametrize("entry", ["fifo", "declares (1e12, 12)"])
def test_a_fifo_or_an_entry_declaring_a_huge_shape_is_never_read(folder, monkeypatch, entry):
    compute, result = Counting(GOOD), []
    _cached(_audio(), compute)
    (path,) = _entries(folder)
    with zipfile.ZipFile(path) as archive:  # the same entry, its header declaring 1.2e13 floats
        npy = archive.read("features.npy").replace(
            b"(5, 3), }" + b" " * 13, b"(1000000000000, 12), }"
        )
    path.unlink()
    if entry == "fifo":  # opening it waits for a writer for ever
        os.mkfifo(path)
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("features.npy", npy)
    monkeypatch.setattr(np.lib.format, "read_array", lambda *a, **k: pytest.fail("read"))
    run = threading.Thread(target=lambda: result.append(_cached(_audio(), compute)), daemon=True)
    run.start()
    run.join(20)
    assert result and compute.calls == 2 and path.is_file()


@pytest.mark.parametrize("origin", ["pointer", "env"])
def test_kept_features_never_create_a_named_data_folder(tmp_path, monkeypatch, origin):
    monkeypatch.delenv(FEATURE_CACHE_ENV)
    drive = tmp_path / "drive" / "MyDrive" / "data"  # not mounted: the data command's guard
    monkeypatch.setenv("TUTORIAL_DATA_DIR", str(drive) if origin == "env" else "")
    cache.remember_data_dir(drive)
    np.testing.assert_array_equal(_cached(_audio(), Counting(GOOD)), GOOD)
    assert not (tmp_path / "drive").exists()


def test_where_entries_are_kept_and_when_nothing_is(tmp_path, monkeypatch, folder):
    compute = Counting(np.ones((4, 3), np.float32))  # another shape than asked: not kept
    np.testing.assert_array_equal(_cached(_audio(), compute), compute.array)
    assert _entries(folder) == []
    monkeypatch.delenv(FEATURE_CACHE_ENV)
    monkeypatch.setenv("TUTORIAL_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    _cached(_audio(), Counting(np.ones((5, 3), np.float32)))
    assert _entries(tmp_path / "data" / "features") != []
    shutil.rmtree(tmp_path / "data")
    names = ("a file", "unmounted")  # off; a folder that can't be, or whose parent is missing
    for value in ("off", *(str(tmp_path / name / "features") for name in names)):
        (tmp_path / "a file").write_text("not a folder")
        monkeypatch.setenv(FEATURE_CACHE_ENV, value)
        compute = Counting(np.ones((5, 3), np.float32))
        for _ in range(2):
            np.testing.assert_array_equal(_cached(_audio(), compute), compute.array)
        assert compute.calls == 2
    assert [p.name for p in tmp_path.iterdir()] == ["a file"]  # nothing kept anywhere


@pytest.mark.parametrize("sr", [16000, 22050, 8000])
def test_grid_mfcc_equals_mfcc_frames_computed_and_read_back(folder, sr, monkeypatch):
    audio = _audio(n=sr)  # one second
    expected = mfcc_frames(audio, sr=sr)
    np.testing.assert_array_equal(targets.grid_mfcc(audio, sr), expected)
    assert len(list((folder / "mfcc").glob("*.npz"))) == 1  # the expected shape was right
    monkeypatch.setattr(targets, "mfcc_frames", lambda *a, **k: pytest.fail("recomputed"))
    np.testing.assert_array_equal(targets.grid_mfcc(audio, sr), expected)


def test_the_code_fingerprint_follows_the_module_source(tmp_path):
    module = tmp_path / "frames.py"
    module.write_text("a")
    before = feature_cache.code_fingerprint(str(module))
    changed = tmp_path / "frames_changed.py"
    changed.write_text("b")
    assert feature_cache.code_fingerprint(str(changed)) != before
