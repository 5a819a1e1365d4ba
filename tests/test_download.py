"""The data command end to end, with gdown mocked at its network boundary.

Runs under gdown 5.2 (Colab's) and 6.x: only names both versions have are used.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import gdown
import gdown.exceptions
import numpy as np
import pytest
import requests

# gdown 6 defines it in gdown.download and re-exports it here; gdown 5.2 defines it here.
from tutorial_utils import load_dataset
from tutorial_utils.io import cache as cache_module
from tutorial_utils.io import files as io_files
from tutorial_utils.io.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location("io_setup", FIXTURES / "io_setup.py")
io_setup = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(io_setup)
real_format = io_setup.real_format
F02_FRAMES = io_setup.F02_FRAMES


@pytest.fixture
def originals(tmp_path):
    """The tutorial's F02 files in their real formats, as in the Drive's ema_probing_data/."""
    return io_setup.write_f02(tmp_path / "drive" / "ema_probing_data")


@pytest.fixture
def drive(originals, monkeypatch):
    return io_setup.FakeDrive(originals).install(monkeypatch)


def _run(cache, *extra):
    return main(["--frame-states", "--data-dir", str(cache), "--quiet", *extra])


def _check_cache(cache):
    ds = load_dataset("real", cache, verify_hashes=True)
    assert ds.participants == ["F02"] and ds.layers == [0, 1]
    assert list(ds.recordings("F02").columns[:3]) == ["FILENAME", "SENTENCE", "AUDIO"]
    for index, (name, n) in enumerate(F02_FRAMES.items()):
        audio = ds.audio("F02", name)
        assert audio.dtype == np.float32
        np.testing.assert_array_equal(
            audio, real_format.tiny_audio(name, real_format.TINY_AUDIO_LENGTHS[name])
        )
        np.testing.assert_array_equal(
            ds.hidden_state("F02", 1, name), real_format.expected_frames(1, index, n)
        )
    assert len(ds.ema("F02")) == sum(F02_FRAMES.values())
    return ds


def test_download_convert_verify_skip(tmp_path, drive):
    cache = tmp_path / "cache"
    assert _run(cache) == 0
    assert sorted(drive.downloads) == [
        "ema_audio_F02.pkl",
        "ema_labels_F02.csv",
        "frame_states_p1_test.pkl",
    ]
    _check_cache(cache)
    manifest = json.loads((cache / "manifest.json").read_text())
    assert manifest["source"] == "real" and manifest["complete"]
    assert manifest["participants"] == ["F02"]
    assert manifest["frame_rate_hz"] == 50.0 and "numpy" in manifest["versions"]
    for rel, record in manifest["files"].items():
        assert io_files.sha256_file(cache / rel) == record["sha256"]
    for name, record in manifest["downloads"].items():
        assert io_files.sha256_file(cache / "downloads" / name) == record["sha256"]
    assert not [p for p in cache.rglob("*") if p.suffix in (".pkl",) and "downloads" not in p.parts]

    stamps = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    assert _run(cache) == 0  # second run: everything verified, nothing fetched or rewritten
    assert len(drive.downloads) == 3 and drive.listings == 1
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items() if p.name != "manifest.json")


def test_corrupted_files_are_redone(tmp_path, drive):
    cache = tmp_path / "cache"
    assert _run(cache) == 0
    ema = next(cache.glob("gen-*/F02/ema.csv"))
    content = bytearray(ema.read_bytes())
    content[-3] = ord("7") if content[-3] != ord("7") else ord("8")  # same size, other bytes
    ema.write_bytes(bytes(content))
    assert _run(cache) == 0
    assert len(drive.downloads) == 3  # converted again from the good downloads
    _check_cache(cache)

    original = cache / "downloads" / "ema_audio_F02.pkl"
    original.write_bytes(original.read_bytes()[:-10])
    assert _run(cache) == 0
    assert drive.downloads[3:] == ["ema_audio_F02.pkl"]
    _check_cache(cache)


def test_offline_error(tmp_path, monkeypatch, capsys):
    def offline(**kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve 'drive.google.com'")

    monkeypatch.setattr(gdown, "download_folder", offline)
    assert _run(tmp_path / "cache") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "sample" in err and "--from-dir" in err and "retry" in err
    with pytest.raises(FileNotFoundError, match="python -m tutorial_utils.io"):
        load_dataset("real", tmp_path / "cache")


def test_gdown_5_listing_failure(tmp_path, monkeypatch, capsys):
    """gdown 5.2 prints and returns None when it cannot read the folder page."""
    monkeypatch.setattr(gdown, "download_folder", lambda **kwargs: None)
    assert _run(tmp_path / "cache") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "sample" in err and "retry" in err


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("Couldn't find the folder encoded JS string"),  # gdown 5.2
        getattr(gdown.exceptions, "DownloadError", RuntimeError)("Failed to retrieve folder"),
    ],
    ids=["gdown5-runtime-error", "gdown6-download-error"],
)
def test_drive_refuses_the_listing(tmp_path, monkeypatch, capsys, error):
    def refuse(**kwargs):
        raise error

    monkeypatch.setattr(gdown, "download_folder", refuse)
    assert _run(tmp_path / "cache") == 2
    err = capsys.readouterr().err
    assert str(error) in " ".join(err.split()) and "Traceback" not in err


def test_drive_refuses_a_file(tmp_path, drive, monkeypatch, capsys):
    def refuse(**kwargs):
        raise gdown.exceptions.FileURLRetrievalError("Too many users have viewed this file")

    monkeypatch.setattr(gdown, "download", refuse)
    assert _run(tmp_path / "cache") == 2
    err = capsys.readouterr().err
    assert "Too many users" in err and "sample" in err and "Traceback" not in err


def test_from_dir_needs_no_network(tmp_path, originals, monkeypatch):
    def no_network(**kwargs):
        raise AssertionError("network used")

    monkeypatch.setattr(gdown, "download_folder", no_network)
    monkeypatch.setattr(gdown, "download", no_network)
    cache = tmp_path / "cache"
    assert _run(cache, "--from-dir", str(originals.parent)) == 0
    _check_cache(cache)
    assert not (cache / "downloads").exists()


def test_wrong_ema_columns(tmp_path, originals, capsys):
    labels = originals / "ema_labels_F02.csv"
    labels.write_text(labels.read_text().replace("TIMESTEP", "FRAME", 1))
    assert _run(tmp_path / "cache", "--from-dir", str(originals)) == 2
    assert "expected exactly" in " ".join(capsys.readouterr().err.split())


def test_frame_count_mismatch(tmp_path, originals, capsys):
    lengths = {"F02_B01_S18_R01_N.mat": 5000, "F02_B01_S33_R01_N.mat": 800}
    real_format.write_ema_audio(originals / "ema_audio_F02.pkl", lengths)
    rows = {"F02_B01_S18_R01_N.mat": 15, "F02_B01_S33_R01_N.mat": 2}  # EMA fits the audio
    real_format.write_ema_labels(originals / "ema_labels_F02.csv", rows)
    assert _run(tmp_path / "cache", "--from-dir", str(originals)) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "do not belong to this audio" in err
    assert "F02_B01_S18_R01_N.mat: 3 frames of hidden states but 15 expected" in err


def test_sample_list_and_help(tmp_path, capsys):
    cache = tmp_path / "cache"
    assert main(["--sample", "--data-dir", str(cache)]) == 0
    assert "load_dataset('sample')" in capsys.readouterr().out
    assert not cache.exists()
    assert main(["--list", "--data-dir", str(cache)]) == 0
    assert "No cache" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "--from-dir" in capsys.readouterr().out


def test_list_shows_cache(tmp_path, drive, capsys):
    cache = tmp_path / "cache"
    assert _run(cache) == 0
    capsys.readouterr()
    assert main(["--list", "--data-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "complete" in out and "F02/hidden_states.npz" in out


def test_missing_torch_is_explained(tmp_path, monkeypatch, capsys):
    from tutorial_utils.io import devices, extract

    def missing():
        raise ImportError(devices.INSTALL_HINT)

    monkeypatch.setattr(extract, "require_torch", missing)
    assert main(["--data-dir", str(tmp_path / "c"), "--quiet"]) == 2
    assert "pip install torch==2.13.0 transformers" in " ".join(capsys.readouterr().err.split())


def test_script_runs(tmp_path):
    script = Path(__file__).parents[1] / "data_download.py"
    result = subprocess.run(
        [sys.executable, str(script), "--sample"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and "sample" in result.stdout


def test_two_participants_with_torch_fixtures(tmp_path, originals, monkeypatch):
    pytest.importorskip("torch", reason="torch makes the M02 frame-states fixture")
    m02 = {"M02_B01_S18_R01_N.mat": 1300, "M02_B01_S04_R01_N.mat": 2000}
    frames = {n: (k - 400) // 320 + 1 for n, k in m02.items()}
    real_format.write_ema_audio(originals / "ema_audio_M02.pkl", m02)
    real_format.write_ema_labels(originals / "ema_labels_M02.csv", frames)
    expected = real_format.write_frame_states_torch(
        originals / "frame_states_p2_test.pkl", frames, layers=2, dim=4
    )
    cache = tmp_path / "cache"
    assert _run(cache, "--from-dir", str(originals)) == 0
    ds = load_dataset("real", cache)
    assert ds.participants == ["F02", "M02"]
    for (layer, name), values in expected.items():
        np.testing.assert_array_equal(ds.hidden_state("M02", layer, name), values)
    shared = ds.shared_sentences("F02", "M02")
    assert shared.SENTENCE_ID.tolist() == ["B01_S18"]


def test_default_reextracts_features(tmp_path, drive, monkeypatch):
    pytest.importorskip("torch", reason="re-extraction needs the extract extra")
    pytest.importorskip("transformers", reason="re-extraction needs the extract extra")
    from tutorial_utils.io import extract

    monkeypatch.setattr(extract, "load_model", lambda name: real_format.tiny_model(layers=2))
    cache = tmp_path / "cache"
    assert main(["--data-dir", str(cache), "--quiet", "--model", "tiny/random"]) == 0
    assert "frame_states_p1_test.pkl" not in drive.downloads
    ds = load_dataset("real", cache, verify_hashes=True)
    assert ds.layers == [0, 1, 2] and ds.model_name == "tiny/random"
    for name, n in F02_FRAMES.items():
        assert ds.hidden_state("F02", 2, name).shape == (n, 16)


def test_finished_cache_is_found_in_a_later_session(tmp_path, originals, monkeypatch, capsys):
    """The command records the cache (in a per-test config folder, see conftest.py); a fresh
    load_dataset() without arguments or environment variables then loads it."""
    monkeypatch.delenv("TUTORIAL_DATA_DIR", raising=False)
    drive = tmp_path / "drive" / "MyDrive" / "speech-cka-tutorial-data"
    args = ["--frame-states", "--data-dir", str(drive), "--from-dir", str(originals)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "load_dataset() now finds this cache" in out
    assert cache_module.pointer_file().read_text().strip() == str(drive.resolve())
    assert load_dataset().source == "real"
