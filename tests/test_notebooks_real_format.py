"""Every notebook also runs on a cache in the *real* data's format (its real-data branches):
10 of the sample's 15 recordings (``KEPT_SENTENCES``) go into a real-format cache (F02 and M02,
real-style names, ``source: real``); like the real ``--frame-states`` conversion, F02 gets two
extra recordings with audio and EMA but no hidden states. ``make test`` checks that it loads;
``make colab-check`` (``REAL_FORMAT_NOTEBOOKS=1``) executes every notebook against it."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from tutorial_utils import load_dataset
from tutorial_utils.io import cache

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RENAME = {"SYN-F": "F02", "SYN-M": "M02"}
EXTRA_SENTENCES = {"B01_S26": "B01_S59", "B01_S27": "B01_S23"}  # new id -> copied recording
# A subset of the sample keeps these runs short: each speaker's recordings with hidden states
# (F02 reads two sentences M02 does not; four are shared, the fewest debiased CKA over
# sentences allows).
KEPT_SENTENCES = {
    "F02": {"S59", "S23", "S18", "S33", "S04", "S52"},
    "M02": {"S18", "S33", "S04", "S52"},
}


def _rename(name: str, old: str, new: str) -> str:
    return new + name[len(old) :]


def _participant_tables(sample, old: str, new: str):
    keep = KEPT_SENTENCES[new]
    recordings = sample.recordings(old)[["FILENAME", "SENTENCE", "AUDIO"]]
    recordings = recordings[[f.split("_")[2] in keep for f in recordings["FILENAME"]]].copy()
    recordings["FILENAME"] = [_rename(f, old, new) for f in recordings["FILENAME"]]
    ema = sample.ema(old)
    ema = ema[[f.split("_")[2] in keep for f in ema["FILENAME"]]].copy()
    ema["FILENAME"] = [_rename(f, old, new) for f in ema["FILENAME"]]
    states = {
        cache.hidden_state_key(layer, _rename(f, old, new)): frames
        for layer, per_file in sample.hidden_states(old).items()
        for f, frames in per_file.items()
        if f.split("_")[2] in keep
    }
    return recordings, ema, states


def _add_recordings_without_states(recordings: pd.DataFrame, ema: pd.DataFrame, new: str):
    extra_rows, extra_ema = [], []
    for new_id, copied_id in EXTRA_SENTENCES.items():
        source = f"{new}_{copied_id}_R01_N.mat"
        target = f"{new}_{new_id}_R01_N.mat"
        row = recordings.loc[recordings["FILENAME"] == source].iloc[0]
        extra_rows.append({"FILENAME": target, "SENTENCE": row["SENTENCE"], "AUDIO": row["AUDIO"]})
        extra_ema.append(ema.loc[ema["FILENAME"] == source].assign(FILENAME=target))
    recordings = pd.concat([recordings, pd.DataFrame(extra_rows)], ignore_index=True)
    return recordings, pd.concat([ema, *extra_ema], ignore_index=True)


@pytest.fixture(scope="module")
def real_format_cache(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("real_format_cache")
    sample = load_dataset("sample")
    tables = []
    for old, new in RENAME.items():
        recordings, ema, states = _participant_tables(sample, old, new)
        if new == "F02":
            recordings, ema = _add_recordings_without_states(recordings, ema, new)
        tables.append((new, (recordings, ema, states)))
    description = "TEST FIXTURE: the synthetic sample written in the real cache format."
    cache.write_cache(directory, tables, source="real", description=description)
    return directory


def test_fixture_loads_as_real_data(real_format_cache):
    ds = load_dataset("auto", real_format_cache)
    assert ds.source == "real" and ds.participants == ["F02", "M02"]
    assert len(ds.recordings("F02")) == 8
    assert len(ds.hidden_states("F02")[0]) == 6


@pytest.mark.skipif(
    os.environ.get("REAL_FORMAT_NOTEBOOKS") != "1",
    reason="a second run of every notebook: make colab-check runs it (REAL_FORMAT_NOTEBOOKS=1)",
)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_real_format_data(path, real_format_cache, monkeypatch):
    monkeypatch.setenv("TUTORIAL_DATA_DIR", str(real_format_cache))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": path.parent}}
    )
    client.execute()  # raises CellExecutionError, with the failing cell, on any error
    text = "\n".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )
    assert "source='real'" in text or "real data" in text or "real tutorial data" in text
