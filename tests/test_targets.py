"""Targets (MFCC, EMA) on the hidden-state grid: one frame count per recording."""

import pytest

from tutorial_utils import targets as T


@pytest.fixture(scope="module")
def ds(two_speakers):
    return two_speakers


def test_aligned_recording_has_one_frame_count(ds):
    name = ds.filenames("A")[1]
    frames, targets = T.aligned_recording(ds, "A", name, ("mfcc", "ema", "mfcc_original"))
    lengths = {len(x) for x in frames.values()} | {len(y) for y in targets.values()}
    assert len(lengths) == 1
    assert set(targets) == {"mfcc", "ema", "mfcc_original"}
    assert all(y.shape[1] == 12 for y in targets.values())


def test_frame_counts_agree(ds):
    table = T.frame_counts(ds)
    assert len(table) == 7
    assert (table["model_frames"] == table["hidden_states"]).all()
    assert (table["mfcc_rows"] == table["model_frames"]).all()
    assert (table["ema_rows"] == table["model_frames"]).all()
    assert table.loc[0, "n_samples"] == 8000 and table.loc[0, "model_frames"] == 24


def test_unknown_target_is_rejected(ds):
    with pytest.raises(ValueError, match="target"):
        T.target_frames(ds, "A", ds.filenames("A")[0], "pitch")
    with pytest.raises(ValueError, match="target"):
        T.target_keys([])


def test_target_frames_of_one_recording(ds):
    name = ds.filenames("B")[0]
    frames, targets = T.aligned_recording(ds, "B", name, "ema", layers=[0])
    ema = T.target_frames(ds, "B", name, "ema")
    assert ema[: len(targets["ema"])].tolist() == targets["ema"].tolist()
    assert list(frames) == [0]


def test_ema_centre_is_the_stored_ema_interpolated(ds):
    import numpy as np

    name = ds.filenames("A")[0]
    start = T.target_frames(ds, "A", name, "ema")
    centre = T.target_frames(ds, "A", name, "ema_centre")
    assert centre.shape == start.shape and T.TARGETS["ema_centre"] == "EMA (window centre)"
    expected = start[:-1] + 0.625 * (start[1:] - start[:-1])
    np.testing.assert_allclose(centre[:-1], expected, rtol=1e-5, atol=1e-4)
