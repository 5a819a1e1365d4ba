"""Shared test setup."""

import pytest


@pytest.fixture(autouse=True)
def _own_config_home(tmp_path_factory, monkeypatch):
    """An empty config folder per test: the data command's record of the last cache
    (``~/.config/speech-cka-tutorial/data_dir``) is never read from or written to the real one."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
