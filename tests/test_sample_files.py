"""Checks of the committed synthetic sample in ``tutorial_utils/data/sample``.

These tests read only the committed files (no VocalTractLab needed): the manifest's hashes,
the audio files, the EMA tables, the phone labels and the recordings table.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tutorial_utils import sentence_id
from tutorial_utils.frames import EMA_COLUMNS, EMA_TABLE_COLUMNS, n_model_frames
from tutorial_utils.io.files import sha256_file

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "tutorial_utils" / "data" / "sample"
SHARED_IDS = {"B01_S18", "B01_S33", "B01_S04", "B01_S52", "B01_S42"}
PARTICIPANTS = ("SYN-F", "SYN-M")


@pytest.fixture(scope="module")
def manifest() -> dict:
    """The sample's manifest."""
    return json.loads((SAMPLE_DIR / "manifest.json").read_text())


@pytest.fixture(scope="module")
def recordings() -> pd.DataFrame:
    """The recordings table."""
    return pd.read_csv(SAMPLE_DIR / "recordings.csv")


@pytest.fixture(scope="module")
def phones() -> pd.DataFrame:
    """The phone label table (``sil`` kept as a string)."""
    return pd.read_csv(SAMPLE_DIR / "phones.csv", keep_default_na=False)


@pytest.fixture(scope="module")
def ema() -> dict[str, pd.DataFrame]:
    """EMA table per participant."""
    return {p: pd.read_csv(SAMPLE_DIR / f"ema_labels_{p}.csv") for p in PARTICIPANTS}


def test_manifest_hashes_match_files(manifest: dict) -> None:
    files = manifest["files"]
    on_disk = {
        p.name
        for p in SAMPLE_DIR.iterdir()
        if p.is_file() and p.name != "manifest.json" and not p.name.startswith(".")
    }
    assert set(files) == on_disk
    for name, digest in files.items():
        assert sha256_file(SAMPLE_DIR / name) == digest, name


def test_manifest_says_synthetic(manifest: dict) -> None:
    assert manifest["statement"] == "synthetic: VocalTractLab speech"
    assert "VERTICAL" in manifest["ema_convention"]["y_axis"]


def test_recordings_table_columns(recordings: pd.DataFrame) -> None:
    assert list(recordings.columns) == [
        "PARTICIPANT", "FILENAME", "SENTENCE", "AUDIO_FILE", "N_SAMPLES", "SAMPLE_RATE",
    ]  # fmt: skip
    assert recordings["FILENAME"].is_unique


def test_audio_matches_recordings_table(recordings: pd.DataFrame) -> None:
    for row in recordings.itertuples(index=False):
        info = sf.info(SAMPLE_DIR / row.AUDIO_FILE)
        assert info.samplerate == row.SAMPLE_RATE == 16000
        assert info.frames == row.N_SAMPLES
        assert info.channels == 1
        audio, _ = sf.read(SAMPLE_DIR / row.AUDIO_FILE, dtype="float32")
        assert 0.0 < np.abs(audio).max() <= 1.0


def test_speakers_and_sentences(recordings: pd.DataFrame) -> None:
    ids = {
        p: set(recordings.loc[recordings["PARTICIPANT"] == p, "FILENAME"].map(sentence_id))
        for p in PARTICIPANTS
    }
    assert SHARED_IDS <= ids["SYN-F"]
    assert SHARED_IDS <= ids["SYN-M"]
    assert (recordings["PARTICIPANT"] == "SYN-F").sum() == 10


@pytest.mark.parametrize("participant", PARTICIPANTS)
def test_ema_columns_exact(ema: dict[str, pd.DataFrame], participant: str) -> None:
    assert list(ema[participant].columns) == list(EMA_TABLE_COLUMNS)


@pytest.mark.parametrize("participant", PARTICIPANTS)
def test_ema_rows_per_file(
    ema: dict[str, pd.DataFrame], recordings: pd.DataFrame, participant: str
) -> None:
    table = ema[participant]
    rows = recordings[recordings["PARTICIPANT"] == participant]
    assert set(table["FILENAME"]) == set(rows["FILENAME"])
    for row in rows.itertuples(index=False):
        frames = table[table["FILENAME"] == row.FILENAME]
        assert abs(len(frames) - n_model_frames(row.N_SAMPLES)) <= 2, row.FILENAME
        assert frames["TIMESTEP"].tolist() == list(range(len(frames)))
        assert (frames["SENTENCE"] == row.SENTENCE).all()


@pytest.mark.parametrize("participant", PARTICIPANTS)
def test_ema_trajectories_move(ema: dict[str, pd.DataFrame], participant: str) -> None:
    coords = ema[participant][list(EMA_COLUMNS)]
    assert np.isfinite(coords.to_numpy()).all()
    assert (coords.std() > 0.5).all()


def test_phones_cover_each_recording(phones: pd.DataFrame, recordings: pd.DataFrame) -> None:
    assert list(phones.columns) == ["PARTICIPANT", "FILENAME", "START_S", "END_S", "PHONE"]
    for row in recordings.itertuples(index=False):
        labels = phones[phones["FILENAME"] == row.FILENAME]
        assert len(labels) > 0, row.FILENAME
        assert (labels["PARTICIPANT"] == row.PARTICIPANT).all()
        start, end = labels["START_S"].to_numpy(), labels["END_S"].to_numpy()
        assert start[0] == 0.0
        assert (end > start).all()
        np.testing.assert_allclose(start[1:], end[:-1], atol=1e-6)
        duration = row.N_SAMPLES / row.SAMPLE_RATE
        assert abs(end[-1] - duration) < 0.02, row.FILENAME
