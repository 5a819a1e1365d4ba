"""Frame alignment: model frame grid, MFCCs, EMA."""

import numpy as np
import pandas as pd
import pytest

from tutorial_utils import frames as F


@pytest.mark.parametrize(
    ("n", "frames"), [(0, 0), (399, 0), (400, 1), (719, 1), (720, 2), (16000, 49), (48000, 149)]
)
def test_n_model_frames(n, frames):
    assert F.n_model_frames(n) == frames


def test_constants():
    assert F.FRAME_RATE_HZ == F.SAMPLE_RATE / F.FRAME_HOP
    assert len(F.EMA_COLUMNS) == 12 and F.EMA_COLUMNS[:2] == ("TR_X", "TR_Y")
    assert F.EMA_TABLE_COLUMNS[:3] == ("FILENAME", "SENTENCE", "TIMESTEP")
    assert F.EMA_TABLE_COLUMNS[-1] == "JAW_Y" and len(F.EMA_TABLE_COLUMNS) == 15


def test_frame_times():
    np.testing.assert_allclose(F.frame_times(3), [0.0, 0.02, 0.04])
    with pytest.raises(ValueError):
        F.frame_times(-1)


@pytest.mark.parametrize("n", [400, 1039, 1040, 16000, 23456])
def test_mfcc_frames_count(n):
    audio = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    out = F.mfcc_frames(audio)
    assert out.shape == (F.n_model_frames(n), 12) and out.dtype == np.float32


def test_mfcc_frame_t_sees_only_its_window():
    audio = np.random.default_rng(1).standard_normal(8000).astype(np.float32)
    full = F.mfcc_frames(audio)
    for t in (0, 5, full.shape[0] - 1):
        alone = F.mfcc_frames(audio[320 * t : 320 * t + 400])
        assert alone.shape == (1, 12)
        np.testing.assert_allclose(full[t], alone[0], rtol=1e-4, atol=1e-3)


def test_mfcc_frames_short_and_resampled():
    assert F.mfcc_frames(np.zeros(100)).shape == (0, 12)
    audio_8k = np.random.default_rng(2).standard_normal(8000).astype(np.float32)
    assert F.mfcc_frames(audio_8k, sr=8000).shape == (F.n_model_frames(16000), 12)
    with pytest.raises(ValueError, match="1-D"):
        F.mfcc_frames(np.zeros((2, 800)))


def test_mfcc_frames_original():
    audio = np.random.default_rng(3).standard_normal(16000).astype(np.float32)
    out = F.mfcc_frames_original(audio, 49)
    assert out.shape == (49, 12) and out.dtype == np.float32
    with pytest.raises(ValueError):
        F.mfcc_frames_original(audio[:10], 49)


def _ema(name="F02_B01_S18_R01_N.mat", n=10):
    rows = [[name, "text", t, *[float(t)] * 12] for t in range(n)]
    table = pd.DataFrame(rows, columns=list(F.EMA_TABLE_COLUMNS))
    return table.iloc[::-1]  # shuffled order: ema_frames must sort by TIMESTEP


def test_ema_frames_sorted_and_trimmed():
    table = _ema()
    out = F.ema_frames(table, "F02_B01_S18_R01_N.mat", 9)
    assert out.shape == (9, 12) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], np.arange(9))
    assert F.ema_frames(table, "F02_B01_S18_R01_N.mat", 12).shape == (10, 12)


def test_ema_frames_errors():
    table = _ema()
    with pytest.raises(ValueError, match="differ by more than 2"):
        F.ema_frames(table, "F02_B01_S18_R01_N.mat", 20)
    with pytest.raises(ValueError, match="No EMA rows"):
        F.ema_frames(table, "F02_B01_S99_R01_N.mat", 10)
    with pytest.raises(ValueError, match="lacks the columns"):
        F.ema_frames(table.drop(columns="JAW_Y"), "F02_B01_S18_R01_N.mat", 10)


def test_ema_frames_at_window_centre():
    """Row t is at 20 t ms; the window centre is 12.5 ms later, i.e. 0.625 rows later."""
    name = "F02_B01_S18_R01_N.mat"
    start = F.ema_frames(_ema(), name, 10)
    centre = F.ema_frames(_ema(), name, 9, at="centre")
    assert centre.shape == (9, 12) and centre.dtype == np.float32
    # The table's values equal TIMESTEP, so the value at time s (in rows) is s itself.
    np.testing.assert_allclose(centre[:, 3], np.arange(9) + 12.5 / 20, rtol=0, atol=1e-6)
    held = F.ema_frames(_ema(), name, 10, at="centre")
    assert held[-1, 0] == start[-1, 0]  # the last row has no later neighbour: held
    with pytest.raises(ValueError, match="at must be"):
        F.ema_frames(_ema(), name, 10, at="middle")


@pytest.mark.parametrize(("n_fft", "n_mels"), [(320, 12), (320, 40), (400, 12)])
def test_mfcc_frames_window_centred_on_the_model_window(n_fft, n_mels):
    import librosa

    audio = np.random.default_rng(4).standard_normal(8000).astype(np.float32)
    full = F.mfcc_frames(audio, n_mels=n_mels, n_fft=n_fft)
    assert full.shape == (F.n_model_frames(8000), 12)
    for t in (0, 7, full.shape[0] - 1):
        start = 320 * t + 200 - n_fft // 2
        alone = librosa.feature.mfcc(
            y=audio[start : start + n_fft], sr=16000, n_mfcc=12, n_mels=n_mels,
            n_fft=n_fft, hop_length=320, center=False,
        )  # fmt: skip
        np.testing.assert_allclose(full[t], alone[:, 0], rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="n_fft"):
        F.mfcc_frames(audio, n_fft=512)


def test_trim_to_common_length():
    a, b = F.trim_to_common_length(np.zeros((10, 3)), np.zeros((9, 2)))
    assert a.shape == (9, 3) and b.shape == (9, 2)
    with pytest.raises(ValueError, match="differ"):
        F.trim_to_common_length(np.zeros(10), np.zeros(5))
    assert F.trim_to_common_length() == ()
