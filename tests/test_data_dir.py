"""Where the real-data cache is looked for, and a warning whenever one was asked for but is
missing (the data command's record in ~/.config, `data_dir=`, `$TUTORIAL_DATA_DIR`)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from tutorial_utils import loading
from tutorial_utils.io import cache, location
from tutorial_utils.io.cli import main
from tutorial_utils.loading import load_dataset

SAMPLE = object()


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """As when pip-installed (no checkout around the package), with an empty home."""
    monkeypatch.delenv("TUTORIAL_DATA_DIR", raising=False)
    fake_package = tmp_path / "site-packages" / "tutorial_utils" / "io" / "location.py"
    monkeypatch.setattr(location, "__file__", str(fake_package))
    monkeypatch.setattr(Path, "home", lambda: tmp_path / "home")
    monkeypatch.setattr(loading, "load_sample_dataset", lambda: SAMPLE)
    return tmp_path


def test_pointer_lives_in_the_config_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert cache.pointer_file() == tmp_path / "cfg" / "speech-cka-tutorial" / "data_dir"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setattr(Path, "home", lambda: tmp_path / "home")
    expected = tmp_path / "home" / ".config" / "speech-cka-tutorial" / "data_dir"
    assert cache.pointer_file() == expected


def test_order_env_pointer_default(installed, monkeypatch):
    assert cache.find_data_dir() == (installed / "home" / ".cache" / "speech-cka-tutorial", "user")
    drive = installed / "drive" / "MyDrive" / "speech-cka-tutorial-data"
    pointer = cache.remember_data_dir(drive)
    assert pointer.read_text() == f"{drive.resolve()}\n"
    assert cache.find_data_dir() == (drive.resolve(), "pointer")
    monkeypatch.setenv("TUTORIAL_DATA_DIR", str(installed / "env"))
    assert cache.find_data_dir() == (installed / "env", "env")


def test_no_cache_by_default_is_silent(installed):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_dataset() is SAMPLE


def test_recorded_cache_missing_warns(installed):
    drive = installed / "drive" / "MyDrive" / "speech-cka-tutorial-data"
    cache.remember_data_dir(drive)
    with pytest.warns(UserWarning) as caught:
        assert load_dataset() is SAMPLE
    message = " ".join(str(caught[0].message).split())
    assert str(drive) in message and "does not exist" in message
    assert str(cache.pointer_file()) in message and "mount Google Drive" in message
    assert f"python -m tutorial_utils.io --data-dir {drive}" in message


@pytest.mark.parametrize("how", ["argument", "env"])
def test_named_cache_missing_warns(installed, monkeypatch, how):
    wanted = installed / "nowhere"
    if how == "env":
        monkeypatch.setenv("TUTORIAL_DATA_DIR", str(wanted))
    with pytest.warns(UserWarning, match="does not exist") as caught:
        assert load_dataset(data_dir=wanted if how == "argument" else None) is SAMPLE
    assert {"argument": "data_dir=", "env": "$TUTORIAL_DATA_DIR"}[how] in str(caught[0].message)


def test_command_refuses_a_recorded_directory_that_is_gone(installed, capsys):
    drive = installed / "drive" / "MyDrive" / "speech-cka-tutorial-data"
    cache.remember_data_dir(drive)
    assert main(["--quiet"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Google Drive mounted" in err and "--data-dir" in err
    assert not drive.exists()  # nothing written where the mount should be
