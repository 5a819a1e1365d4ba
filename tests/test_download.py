"""The data command with Google Drive: gdown's network calls are faked (its parsing and pooch
are real); only names that gdown 5.2 (Colab's) and 6 both have are used."""

import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import gdown
import gdown.exceptions
import numpy as np
import pooch
import pytest
import requests
from fixtures import io_setup
from gdown.download_folder import GoogleDriveFileToDownload

from tutorial_utils import load_dataset
from tutorial_utils.io import cache, cli, extract, originals
from tutorial_utils.io.cli import main

real_format, S18 = io_setup.real_format, io_setup.S18


@pytest.fixture
def folder(tmp_path):
    """The tutorial's F02 files in their real formats, as in the Drive's ema_probing_data/."""
    return io_setup.write_f02(tmp_path / "drive" / "ema_probing_data")


@pytest.fixture
def drive(folder, monkeypatch):
    return io_setup.FakeDrive(folder).install(monkeypatch)


def _run(data_dir, *extra):
    return main(
        ["--frame-states", "--participants", "F02", "--data-dir", str(data_dir), "--quiet", *extra]
    )


def _err(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip()
    return " ".join(err.split())


def test_download_convert_verify_and_skip(tmp_path, drive):
    data_dir = tmp_path / "cache"
    assert _run(data_dir) == 0
    assert sorted(drive.downloads) == ["ema_audio_F02.pkl", "ema_labels_F02.csv",
                                       "frame_states_p1_test.pkl"]  # fmt: skip
    ds = load_dataset("real", data_dir)
    np.testing.assert_array_equal(ds.audio("F02", S18), real_format.tiny_audio(S18, 1100))
    manifest = json.loads((data_dir / "manifest.json").read_text())
    assert manifest["origin"] == "google drive" and manifest["hidden_states"] == "frame_states"
    for name, sha256 in manifest["sources"].items():
        assert pooch.file_hash(str(data_dir / "downloads" / name)) == sha256
    stamps = {p: p.stat().st_mtime_ns for p in data_dir.rglob("*") if p.is_file()}
    assert _run(data_dir) == 0  # complete and verified: nothing fetched, nothing written
    assert len(drive.downloads) == 3 and drive.listings == 1
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_a_tampered_cache_is_rebuilt_and_a_bad_download_fetched_again(tmp_path, drive, capsys):
    data_dir = tmp_path / "cache"
    assert _run(data_dir) == 0
    ema = next(data_dir.glob("cache-*/F02/ema.csv"))
    ema.write_bytes(ema.read_bytes().replace(b"-50.0", b"-50.5", 1))  # same size, other bytes
    assert _run(data_dir) == 0 and len(drive.downloads) == 3  # from the kept downloads
    assert load_dataset("real", data_dir).ema("F02")["TR_X"].iloc[0] == -50.0
    drive.serve["ema_audio_F02.pkl"] = b"<!DOCTYPE html><html>Virus scan warning</html>"
    (data_dir / "downloads" / "ema_audio_F02.pkl").unlink()
    (data_dir / "manifest.json").unlink()
    assert _run(data_dir) == 2
    err = _err(capsys)
    assert "HTML page" in err and "The download was deleted" in err
    assert not (data_dir / "downloads" / "ema_audio_F02.pkl").exists()
    del drive.serve["ema_audio_F02.pkl"]
    assert _run(data_dir) == 0  # fetched again, not trusted
    assert drive.downloads.count("ema_audio_F02.pkl") == 3
    assert drive.downloads.count("ema_labels_F02.csv") == 1


def test_pinned_hashes_are_checked_by_pooch_and_for_local_files(
    tmp_path, drive, folder, monkeypatch, capsys
):
    labels = folder / "ema_labels_F02.csv"
    good = pooch.file_hash(str(labels))
    monkeypatch.setitem(cli.KNOWN_SHA256, "ema_labels_F02.csv", "0" * 64)
    assert _run(tmp_path / "cache") == 2
    err = _err(capsys)
    assert good in err and "is not the tutorial's file" in err
    assert not (tmp_path / "cache" / "downloads" / "ema_labels_F02.csv").exists()  # not kept
    assert _run(tmp_path / "other", "--from-dir", str(folder)) == 2
    assert f"its sha256 is {good}" in _err(capsys) and labels.exists()  # refused, not deleted
    monkeypatch.setitem(cli.KNOWN_SHA256, "ema_labels_F02.csv", good)
    assert _run(tmp_path / "cache") == 0


def _raise(error):
    def refuse(*args, **kwargs):
        raise error

    return refuse


@pytest.mark.parametrize(("call", "error"), [
    ("download_folder", requests.exceptions.ConnectionError("Failed to resolve drive")),
    ("download_folder", None),  # gdown 5.2 prints and returns None
    ("download_folder", RuntimeError("Couldn't find the folder encoded JS string")),  # 5.2
    ("download_folder", getattr(gdown.exceptions, "DownloadError", RuntimeError)("6: no")),
    ("download", gdown.exceptions.FileURLRetrievalError("Too many users have viewed it")),
], ids=["offline", "gdown5-none", "gdown5-runtime", "gdown6-error", "file-refused"])  # fmt: skip
def test_drive_failures_give_one_paragraph_and_exit_2(tmp_path, drive, monkeypatch, capsys,
                                                       call, error):  # fmt: skip
    monkeypatch.setattr(gdown, call, _raise(error) if error else lambda **kwargs: None)
    assert _run(tmp_path / "cache") == 2
    err = _err(capsys)
    assert "sample" in err and "--from-dir" in err and str(error or "no listing") in err
    with pytest.raises(FileNotFoundError, match="python -m tutorial_utils.io"):
        load_dataset("real", tmp_path / "cache")


def test_only_files_in_ema_probing_data_are_fetched(tmp_path, drive, folder, monkeypatch, capsys):
    name, listing = "frame_states_p1_test.pkl", drive.download_folder  # only in old/ on the Drive
    moved = (folder / name).rename(tmp_path / name)
    other = GoogleDriveFileToDownload(id=f"id-{name}", path=f"old/{name}", local_path=str(moved))
    monkeypatch.setattr(gdown, "download_folder", lambda **kw: [*listing(**kw), other])
    assert _run(tmp_path / "cache") == 2
    assert f"has no {name} in 'ema_probing_data/'" in _err(capsys) and name not in drive.downloads


def test_from_dir_needs_no_network_and_passes_over_vanishing_folders(tmp_path, folder, monkeypatch):
    monkeypatch.setattr(gdown, "download_folder", _raise(AssertionError("network used")))
    monkeypatch.setattr(gdown, "download", _raise(AssertionError("network used")))
    (gone := folder.parent / "proc" / "4242").mkdir(parents=True)  # as in /proc, where rglob
    scandir = os.scandir  # raised FileNotFoundError for a process that had ended meanwhile

    def vanishing(path="."):
        if Path(path) == gone:
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", vanishing)
    assert _run(tmp_path / "cache", "--from-dir", str(folder.parent)) == 0
    assert load_dataset("real", tmp_path / "cache").participants == ["F02"]
    assert not (tmp_path / "cache" / "downloads").exists()


def test_missing_torch_and_a_missing_gpu_stop_before_any_download(
    tmp_path, drive, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "transformers", None)  # an import of it fails
    monkeypatch.setitem(sys.modules, "torch", None)
    assert main(["--data-dir", str(tmp_path / "c"), "--quiet"]) == 2
    assert "--index-url https://download.pytorch.org/whl/cpu" in _err(capsys)
    assert main(["--from-dir", str(tmp_path / "no"), "--data-dir", str(tmp_path / "c")]) == 2
    assert "Could not find" in _err(capsys)  # a wrong folder is named before the missing torch
    space = types.SimpleNamespace
    torch = space(cuda=space(is_available=lambda: False), __version__="2", version=space(cuda=None))
    monkeypatch.setattr(extract, "require_torch", lambda: (torch, None))
    assert main(["--device", "cuda", "--data-dir", str(tmp_path / "c"), "--quiet"]) == 2
    assert "torch sees no CUDA GPU" in _err(capsys)
    assert drive.listings == 0 and not (tmp_path / "c").exists()


def test_list_help_and_the_script(tmp_path, drive, capsys):
    data_dir = tmp_path / "cache"
    assert main(["--list", "--data-dir", str(data_dir)]) == 2
    assert "there is no manifest.json" in _err(capsys) and not data_dir.exists()
    assert _run(data_dir) == 0
    assert main(["--list", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "every file's sha256 verified" in out and "F02/hidden_states.npz" in out
    script = Path(__file__).parents[1] / "data_download.py"
    result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "load_dataset('sample')" in result.stdout


def test_help_names_the_console_script_and_the_default_folders(tmp_path, monkeypatch, capsys):
    env = dict(HOME=tmp_path, COLUMNS=400, XDG_CACHE_HOME=0, TUTORIAL_DATA_DIR=0)
    for name, value in env.items():  # (0: unset)
        monkeypatch.setenv(name, str(value)) if value else monkeypatch.delenv(name, False)
    cache.remember_data_dir(tmp_path / "drive" / "speech data")
    monkeypatch.setattr(sys, "argv", [str(Path("venv", "bin", "speech-cka-data"))])
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: speech-cka-data [-h]") and "~/.cache/speech-cka-tutorial)" in out
    assert "(default: ~/drive/speech data, the first of $TUTORIAL_DATA_DIR, the folder" in out


def _someone_elses(tmp, folder):
    (tmp / "cache").mkdir()
    return (tmp / "cache" / "manifest.json").write_text('{"name": "My app"}') and []


@pytest.mark.parametrize(("setup", "said"), [
    (lambda tmp, folder: ["--data-dir", ""], "take a folder, not ''"),
    (_someone_elses, "that is not this tutorial's"),
    (lambda tmp, folder: shutil.copytree(folder, tmp / "drive" / "copy") and [], "2 copies"),
], ids=["empty-data-dir", "someone-elses-manifest", "two-copies"])  # fmt: skip
def test_the_command_writes_nothing_where_it_should_not(tmp_path, folder, monkeypatch, capsys,
                                                         setup, said):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    args = ["--from-dir", str(folder.parent), *setup(tmp_path, folder)]
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    assert _run(tmp_path / "cache", *args) == 2
    assert said in (err := _err(capsys)) and not cache.pointer_file().exists()
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == before
    assert "copies" not in said or f"in {tmp_path / 'drive' / 'copy'} and {folder}:" in err


def test_ctrl_c_is_one_line_and_exit_130_and_keeps_the_cache(tmp_path, folder, monkeypatch, capsys):
    data_dir = tmp_path / "cache"
    assert _run(data_dir, "--from-dir", str(folder)) == 0
    manifest = (data_dir / "manifest.json").read_bytes()
    monkeypatch.setattr(originals, "read_frame_states", _raise(KeyboardInterrupt()))
    other = str(io_setup.write_f02(tmp_path / "other", gain=0.5))
    assert _run(data_dir, "--from-dir", other) == 130  # interrupted while converting
    said = f"{cache.COMMAND}: interrupted; the cache in {data_dir} is unchanged.\n"
    assert capsys.readouterr().err == said and io_setup.leftovers(data_dir) == []
    assert (data_dir / "manifest.json").read_bytes() == manifest


def test_importing_the_data_tools_does_not_import_torch():
    code = "import sys, tutorial_utils.io.cli\n"
    code += "print('torch' in sys.modules, 'transformers' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["False", "False"], result.stderr
