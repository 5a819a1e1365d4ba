"""The sample's acoustic source without librosa.feature: equal to librosa's, and cheap to load.

The simulated encoder's acoustic source is librosa's 40-band log-mel spectrum, computed in
numpy by :mod:`tutorial_utils.sample.logmel` so that the first ``load_dataset("sample")`` does
not import ``librosa.feature`` (numba compilation, ~2 s). These tests import librosa to check
that the numpy recipe and the hidden states built from it are the ones librosa gives.
"""

from __future__ import annotations

import subprocess
import sys

import librosa
import numpy as np
import pytest

from tutorial_utils.frames import GRID_STFT, SAMPLE_RATE
from tutorial_utils.sample import encoder, loader, sources
from tutorial_utils.sample.logmel import log_mel_db, mel_filterbank


def _librosa_log_mel(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """The acoustic source as it was computed with librosa (the reference)."""
    mel = librosa.feature.melspectrogram(
        y=audio, sr=SAMPLE_RATE, n_mels=sources.N_MELS, power=2.0, **GRID_STFT
    )
    return librosa.power_to_db(mel.T[:n_frames], ref=np.max, top_db=80.0).astype(np.float64)


@pytest.fixture(scope="module")
def sample_inputs():
    folder = loader.SAMPLE_DIR
    recordings, phones, ema = loader._read_tables(folder)
    audio_of = {
        row.FILENAME: loader._read_audio(folder / row.AUDIO_FILE)
        for row in recordings.itertuples(index=False)
    }
    return recordings, phones, ema, audio_of


@pytest.mark.parametrize(
    ("sr", "n_fft", "n_mels"), [(16000, 400, 40), (16000, 512, 12), (22050, 2048, 128)]
)
def test_mel_filterbank_is_librosas(sr, n_fft, n_mels):
    expected = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    np.testing.assert_allclose(mel_filterbank(sr, n_fft, n_mels), expected, rtol=1e-6, atol=0)


def test_log_mel_is_librosas_on_every_sample_recording(sample_inputs):
    *_, audio_of = sample_inputs
    for audio in audio_of.values():
        expected = librosa.power_to_db(
            librosa.feature.melspectrogram(
                y=audio, sr=SAMPLE_RATE, n_mels=40, power=2.0, **GRID_STFT
            ),
            ref=np.max,
            top_db=80.0,
        )
        got = log_mel_db(audio, SAMPLE_RATE, GRID_STFT["n_fft"], GRID_STFT["hop_length"], 40)
        assert got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)


def test_hidden_states_are_those_of_the_librosa_source(sample_inputs, monkeypatch):
    _, states = encoder.simulate(*sample_inputs)
    monkeypatch.setattr(sources, "_log_mel", _librosa_log_mel)
    _, reference = encoder.simulate(*sample_inputs)
    for participant, per_layer in reference.items():
        for layer, per_file in per_layer.items():
            for filename, expected in per_file.items():
                got = states[participant][layer][filename]
                np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_loading_the_sample_does_not_import_librosa_feature():
    code = (
        "import sys, tutorial_utils\n"
        "tutorial_utils.load_dataset('sample')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('librosa.feature', 'numba'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stdout
