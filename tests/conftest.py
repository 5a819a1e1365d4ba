"""Two tiny datasets for the learner modules' tests: ``two_speakers`` (A reads 4 sentences, B 3
of them; layer 0 is a scaled copy of the MFCCs, 1 a speaker vector, 2 a sentence vector) and
``content_speakers`` (layer 1 carries a smooth sentence-specific trajectory). Features the tests
and nbval's notebooks compute are kept in one temporary folder for the run, never in ``data/``.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np
import pandas as pd
import pytest

from tutorial_utils.dataset import Dataset
from tutorial_utils.frames import EMA_COLUMNS, EMA_TABLE_COLUMNS, mfcc_frames, n_model_frames
from tutorial_utils.io.feature_cache import FEATURE_CACHE_ENV
from tutorial_utils.recordings import layer_target_cka

SENTENCES = ["S18", "S33", "S04", "S52"]
_FEATURES_FOLDER = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """A temporary feature folder for this run (workers inherit the controller's)."""
    if FEATURE_CACHE_ENV not in os.environ:
        folder = tempfile.mkdtemp(prefix="tutorial-features-")
        os.environ[FEATURE_CACHE_ENV] = folder
        config.stash[_FEATURES_FOLDER] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the folder where this process made it."""
    folder = config.stash.get(_FEATURES_FOLDER, None)
    if folder is not None:
        del os.environ[FEATURE_CACHE_ENV]
        shutil.rmtree(folder, ignore_errors=True)


def _recording(rng, participant, sid, n_samples, speaker_vec, sentence_vec):
    """Audio, EMA table and three layers; layer 0 is a padded, scaled copy of the MFCCs."""
    filename = f"{participant}_B01_{sid}_R01_N.mat"
    audio = rng.standard_normal(n_samples).astype(np.float32)
    audio *= np.sin(np.linspace(0, 7, n_samples)) ** 2
    n = n_model_frames(n_samples)
    mfcc = mfcc_frames(audio)
    ema = np.cumsum(rng.standard_normal((n, 12)), axis=0)
    table = pd.DataFrame(ema, columns=list(EMA_COLUMNS))
    table.insert(0, "TIMESTEP", np.arange(n))
    table.insert(0, "SENTENCE", sid)
    table.insert(0, "FILENAME", filename)
    layers = {
        0: np.hstack([3 * mfcc, np.zeros((n, 4), np.float32)]),
        1: np.tile(speaker_vec, (n, 1)) + rng.standard_normal((n, 16)) * 0.1,
        2: np.tile(sentence_vec, (n, 1)) + rng.standard_normal((n, 16)),
    }
    return filename, audio, table, layers


def make_two_speakers(seed=0):
    """Two speakers: A reads 4 sentences, B the first 3 of them (plus silence-free noise)."""
    rng = np.random.default_rng(seed)
    sentence_vecs = {s: rng.standard_normal(16) * 3 for s in SENTENCES}
    recordings, emas, states = {}, {}, {}
    for participant, sids in (("A", SENTENCES), ("B", SENTENCES[:3])):
        speaker_vec = rng.standard_normal(16) * 3
        rows, tables, per_layer = [], [], {0: {}, 1: {}, 2: {}}
        for i, sid in enumerate(sids):
            n_samples = 8000 + 960 * i
            vecs = speaker_vec, sentence_vecs[sid]
            name, audio, table, layers = _recording(rng, participant, sid, n_samples, *vecs)
            rows.append((name, f"sentence {sid}", audio))
            tables.append(table)
            for layer, x in layers.items():
                per_layer[layer][name] = x.astype(np.float32)
        recordings[participant] = pd.DataFrame(rows, columns=["FILENAME", "SENTENCE", "AUDIO"])
        emas[participant] = pd.concat(tables, ignore_index=True)
        states[participant] = per_layer
    return Dataset(source="sample", description="test", recordings=recordings, ema=emas,
                   hidden_states=states)  # fmt: skip


@pytest.fixture(scope="session")
def two_speakers() -> Dataset:
    return make_two_speakers()


@pytest.fixture(scope="session")
def observed(two_speakers):
    """Per-recording CKA of every layer of ``two_speakers`` with MFCC and EMA."""
    return layer_target_cka(two_speakers, ("mfcc", "ema"))


N_LAYERS = 4
DIM = 6
CONTENT_WEIGHT = (0.1, 2.0, 0.5, 0.0)  # layer 1 carries the sentence content


def _content(sentence: int, n_frames: int) -> np.ndarray:
    """A smooth, sentence-specific trajectory sampled at n_frames relative positions."""
    t = np.linspace(0.0, 1.0, n_frames)[:, None]
    freqs = np.arange(1, DIM + 1)[None, :]
    return np.sin(2 * np.pi * freqs * t * (1 + 0.3 * sentence) + sentence)


def _speaker(name: str, sentences: list[int], lengths: list[int], seed: int):
    rng = np.random.default_rng(seed)
    files = [f"{name}_B01_S{s:02d}_R01_N.mat" for s in sentences]
    states = {layer: {} for layer in range(N_LAYERS)}
    for s, n, f in zip(sentences, lengths, files, strict=True):
        for layer in range(N_LAYERS):
            noise = rng.standard_normal((n, DIM))
            states[layer][f] = (CONTENT_WEIGHT[layer] * _content(s, n) + noise).astype(np.float32)
    audio = [np.zeros(8, dtype=np.float32) for _ in files]
    sentence = [f"s{s}" for s in sentences]
    return pd.DataFrame({"FILENAME": files, "SENTENCE": sentence, "AUDIO": audio}), states


@pytest.fixture(scope="session")
def content_speakers() -> Dataset:
    table_a, states_a = _speaker("A", [1, 2, 3, 4, 5, 6], [30, 34, 28, 40, 33, 31], seed=1)
    table_b, states_b = _speaker("B", [5, 3, 1, 2, 4], [25, 38, 29, 31, 36], seed=2)
    ema = pd.DataFrame(columns=list(EMA_TABLE_COLUMNS))
    recordings, states = {"A": table_a, "B": table_b}, {"A": states_a, "B": states_b}
    return Dataset(source="sample", description="test", recordings=recordings,
                   ema={"A": ema, "B": ema}, hidden_states=states)  # fmt: skip


@pytest.fixture(autouse=True)
def _own_config_home(tmp_path_factory, monkeypatch):
    """An empty config folder per test: the real record of the last cache is never touched."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
