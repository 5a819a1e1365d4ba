"""The 20 ms grid, MFCC/EMA on it (vs librosa on lone windows, explicit formulas), targets."""

import librosa
import numpy as np
import pandas as pd
import pytest

from tutorial_utils import frames as F
from tutorial_utils import targets as T

NAME = "F02_B01_S18_R01_N.mat"


@pytest.mark.parametrize(
    ("n", "frames"), [(0, 0), (399, 0), (400, 1), (719, 1), (720, 2), (16000, 49), (48000, 149)]
)
def test_n_model_frames(n, frames):
    assert F.n_model_frames(n) == frames
    assert F.mfcc_frames(np.ones(n)).shape == (frames, 12)


def test_frame_times_and_constants():
    np.testing.assert_allclose(F.frame_times(3), [0.0, 0.02, 0.04])
    with pytest.raises(ValueError):
        F.frame_times(-1)
    assert F.FRAME_RATE_HZ == F.SAMPLE_RATE / F.FRAME_HOP
    assert F.EMA_TABLE_COLUMNS[:5] == ("FILENAME", "SENTENCE", "TIMESTEP", "TR_X", "TR_Y")
    assert F.EMA_TABLE_COLUMNS[3:] == F.EMA_COLUMNS and F.EMA_COLUMNS[-1] == "JAW_Y"


@pytest.mark.parametrize(("n_fft", "n_mels"), [(400, 40), (320, 12), (320, 40), (400, 12)])
def test_mfcc_row_t_is_the_mfcc_of_its_window_alone(n_fft, n_mels):
    audio = np.random.default_rng(4).standard_normal(8000).astype(np.float32)
    full = F.mfcc_frames(audio, n_mels=n_mels, n_fft=n_fft)
    assert full.shape == (F.n_model_frames(8000), 12) and full.dtype == np.float32
    for t in (0, 7, full.shape[0] - 1):
        start = 320 * t + 200 - n_fft // 2  # centred on [320 t, 320 t + 400)
        alone = librosa.feature.mfcc(
            y=audio[start : start + n_fft], sr=16000, n_mfcc=12, n_mels=n_mels,
            n_fft=n_fft, hop_length=n_fft, center=False,
        )  # fmt: skip
        np.testing.assert_allclose(full[t], alone[:, 0], rtol=1e-4, atol=1e-3)


def test_mfcc_resampled_and_bad_input():
    audio_8k = np.random.default_rng(2).standard_normal(8000).astype(np.float32)
    with pytest.warns(UserWarning, match="^8000 Hz audio upsampled to 16 kHz: top mel"):
        assert F.mfcc_frames(audio_8k, sr=8000).shape == (F.n_model_frames(16000), 12)
    with pytest.raises(ValueError, match="1-D"):
        F.mfcc_frames(np.zeros((2, 800)))
    with pytest.raises(ValueError, match="n_fft"):
        F.mfcc_frames(audio_8k, n_fft=512)


def test_mfcc_original_frame_t_is_centred_at_t_times_the_stretched_hop():
    audio = np.random.default_rng(3).standard_normal(16000).astype(np.float32)
    out = F.mfcc_frames_original(audio, 49)
    hop = 16000 // 49  # 326 samples, not the model's 320: the frames drift
    assert out.shape == (49, 12) and out.dtype == np.float32
    for t in (1, 20, 48):
        window = audio[t * hop - 160 : t * hop + 160]
        alone = librosa.feature.mfcc(
            y=window, sr=16000, n_mfcc=12, n_mels=12, n_fft=320, hop_length=320, center=False
        )
        np.testing.assert_allclose(out[t], alone[:, 0], rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError):
        F.mfcc_frames_original(audio[:10], 49)


def _ema(n=10):
    rows = [[NAME, "text", t, *[float(t)] * 12] for t in range(n)]
    return pd.DataFrame(rows, columns=list(F.EMA_TABLE_COLUMNS)).iloc[::-1]  # unsorted


def test_ema_frames_sorted_trimmed_and_checked():
    out = F.ema_frames(_ema(), NAME, 9)
    assert out.shape == (9, 12) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], np.arange(9))
    assert F.ema_frames(_ema(), NAME, 12).shape == (10, 12)
    with pytest.raises(ValueError, match="differ by more than 2"):
        F.ema_frames(_ema(), NAME, 20)
    with pytest.raises(ValueError, match="No EMA rows"):
        F.ema_frames(_ema(), "F02_B01_S99_R01_N.mat", 10)
    with pytest.raises(ValueError, match="at must be"):
        F.ema_frames(_ema(), NAME, 10, at="middle")


def test_ema_at_window_centre_is_12_5_ms_later():
    centre = F.ema_frames(_ema(), NAME, 10, at="centre")
    # Values equal TIMESTEP (row t at 20 t ms), so at 20 t + 12.5 ms the value is t + 0.625.
    np.testing.assert_allclose(centre[:-1, 3], np.arange(9) + 12.5 / 20, rtol=0, atol=1e-6)
    assert centre[-1, 0] == 9  # the last row has no later neighbour: held


def test_trim_to_common_length():
    a, b = F.trim_to_common_length(np.zeros((10, 3)), np.zeros((9, 2)))
    assert a.shape == (9, 3) and b.shape == (9, 2)
    with pytest.raises(ValueError, match="differ"):
        F.trim_to_common_length(np.zeros(10), np.zeros(5))


def test_aligned_recording_has_one_frame_count(two_speakers):
    name = two_speakers.filenames("A")[1]
    keys = ("mfcc", "ema", "mfcc_original", "ema_centre")
    states, values = T.aligned_recording(two_speakers, "A", name, keys)
    assert len({len(x) for x in [*states.values(), *values.values()]}) == 1
    assert tuple(values) == keys and all(y.shape[1] == 12 for y in values.values())
    one, ema = T.aligned_recording(two_speakers, "B", two_speakers.filenames("B")[0], "ema", [0])
    assert list(one) == [0] and list(ema) == ["ema"]
    with pytest.raises(ValueError, match="target"):
        T.target_frames(two_speakers, "A", name, "pitch")
    with pytest.raises(ValueError, match="target"):
        T.target_keys([])


def test_target_ema_centre_interpolates_the_stored_rows(two_speakers):
    name = two_speakers.filenames("A")[0]
    start = T.target_frames(two_speakers, "A", name, "ema")
    centre = T.target_frames(two_speakers, "A", name, "ema_centre")
    expected = start[:-1] + 0.625 * (start[1:] - start[:-1])
    np.testing.assert_allclose(centre[:-1], expected, rtol=1e-5, atol=1e-4)


def test_every_stream_has_one_row_per_model_frame(two_speakers):
    for participant, name in two_speakers.pick_recordings():
        audio = two_speakers.audio(participant, name)
        rows = {
            len(T.grid_mfcc(audio, two_speakers.sample_rate)),
            two_speakers.hidden_state(participant, 0, name).shape[0],
            int((two_speakers.ema(participant)["FILENAME"] == name).sum()),
        }
        assert rows == {F.n_model_frames(audio.size)}
