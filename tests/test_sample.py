"""The built-in synthetic sample: real schema, determinism, and its planted ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tutorial_utils import load_dataset, sample, sentence_id
from tutorial_utils.cka import feature_space_linear_cka, gram_linear
from tutorial_utils.frames import EMA_TABLE_COLUMNS, mfcc_frames, n_model_frames
from tutorial_utils.sentences import sentence_means


@pytest.fixture(scope="module")
def ds():
    return load_dataset("sample")


def test_sample_is_labelled_synthetic(ds):
    assert ds.source == "sample"
    assert "synthetic: VocalTractLab speech + simulated encoder" in ds.description
    assert ds.participants == ["SYN-F", "SYN-M"]
    assert "synthetic" in repr(ds)


def test_schema_matches_the_real_data(ds):
    assert len(ds.recordings("SYN-F")) == 10
    assert len(ds.recordings("SYN-M")) == 5
    for p in ds.participants:
        table = ds.recordings(p)
        assert {"FILENAME", "SENTENCE", "AUDIO"} <= set(table.columns)
        assert all(
            name.startswith(f"{p}_B01_S") and name.endswith("_R01_N.mat")
            for name in table["FILENAME"]
        )
        ema = ds.ema(p)
        assert tuple(ema.columns) == EMA_TABLE_COLUMNS
        assert pd.api.types.is_integer_dtype(ema["TIMESTEP"])
        states = ds.hidden_states(p)
        assert sorted(states) == list(range(13))
        for audio, name in zip(table["AUDIO"], table["FILENAME"], strict=True):
            assert audio.dtype == np.float32 and audio.ndim == 1
            n_frames = n_model_frames(len(audio))
            for layer in range(13):
                frames = states[layer][name]
                assert frames.shape == (n_frames, 768)
                assert frames.dtype == np.float32
            n_rows = int((ema["FILENAME"] == name).sum())
            assert abs(n_rows - n_frames) <= 2


def test_shared_sentences_are_the_five_of_the_cka_chapter(ds):
    shared = ds.shared_sentences("SYN-F", "SYN-M")
    assert sorted(shared["SENTENCE_ID"]) == sorted(
        ["B01_S18", "B01_S33", "B01_S04", "B01_S52", "B01_S42"]
    )
    assert all(
        sentence_id(a) == sentence_id(b)
        for a, b in zip(shared["FILENAME_A"], shared["FILENAME_B"], strict=True)
    )


def test_two_builds_are_identical(ds):
    first = ds.hidden_state("SYN-M", 7, ds.filenames("SYN-M")[0]).copy()
    sample.loader._build.cache_clear()
    again = load_dataset("sample")
    np.testing.assert_array_equal(
        again.hidden_state("SYN-M", 7, again.filenames("SYN-M")[0]), first
    )


def test_arrays_are_read_only(ds):
    frames = ds.hidden_state("SYN-F", 0, ds.filenames("SYN-F")[0])
    with pytest.raises(ValueError):
        frames[0, 0] = 1.0


def test_ground_truth_table():
    truth = sample.ground_truth()
    assert list(truth.index) == list(range(13))
    assert list(truth.columns) == ["acoustic", "articulatory", "content", "speaker"]
    assert truth["acoustic"].idxmax() == 0
    assert 5 <= truth["content"].idxmax() <= 8


def mean_cka_per_layer(ds, participant, feature_of) -> np.ndarray:
    values = np.zeros(13)
    names = ds.filenames(participant)
    for name in names:
        feature = feature_of(name)
        for layer in range(13):
            frames = ds.hidden_state(participant, layer, name)[: len(feature)]
            values[layer] += feature_space_linear_cka(frames, feature[: len(frames)])
    return values / len(names)


def test_planted_acoustic_and_content_profiles_are_recovered(ds):
    p = "SYN-F"
    acoustic = mean_cka_per_layer(ds, p, lambda f: sample.planted_sources(ds, p, f)["acoustic"])
    content = mean_cka_per_layer(ds, p, lambda f: sample.planted_sources(ds, p, f)["content"])
    mfcc = mean_cka_per_layer(ds, p, lambda f: mfcc_frames(ds.audio(p, f)))
    assert acoustic[0] > acoustic[8] > acoustic[12]
    assert mfcc[0] > mfcc[7]
    assert content[6] > content[0]
    assert np.argmax(content) in range(4, 10)


def sentence_gram(ds, layer):
    shared = ds.shared_sentences("SYN-F", "SYN-M")
    means = np.vstack(
        [
            sentence_means(ds, "SYN-F", layer, shared["FILENAME_A"]),
            sentence_means(ds, "SYN-M", layer, shared["FILENAME_B"]),
        ]
    )
    z = (means - means.mean(axis=0)) / means.std(axis=0)
    return gram_linear(z) / z.shape[1]


def block_contrast(gram: np.ndarray) -> tuple[float, float]:
    """Mean similarity of same-speaker pairs and of same-sentence (other speaker) pairs."""
    n = len(gram) // 2
    same_speaker = np.concatenate(
        [gram[:n, :n][~np.eye(n, dtype=bool)], gram[n:, n:][~np.eye(n, dtype=bool)]]
    ).mean()
    same_sentence = np.diag(gram[:n, n:]).mean()
    return float(same_speaker), float(same_sentence)


def test_speaker_blocks_early_and_sentence_pairs_in_the_middle(ds):
    speaker_0, sentence_0 = block_contrast(sentence_gram(ds, 0))
    speaker_7, sentence_7 = block_contrast(sentence_gram(ds, 7))
    assert speaker_0 > sentence_0
    assert sentence_7 > speaker_7


def test_planted_sources_refuse_real_data(ds):
    class Real:
        source = "real"

    with pytest.raises(ValueError, match="synthetic sample"):
        sample.planted_sources(Real(), "F02", "x")
    with pytest.raises(KeyError, match="valid"):
        sample.planted_sources(ds, "SYN-M", "nope.mat")


def test_planted_sources_come_from_the_folder_the_dataset_was_built_from(tmp_path, ds):
    import shutil

    copy = tmp_path / "sample"
    shutil.copytree(sample.SAMPLE_DIR, copy)
    # Mirror the tongue tip front-to-back in the copy, so its articulatory source differs.
    ema_path = copy / "ema_labels_SYN-M.csv"
    ema = pd.read_csv(ema_path)
    ema["TT_X"] = -ema["TT_X"]
    ema.to_csv(ema_path, index=False)

    changed = sample.load_sample_dataset(copy)
    assert changed.manifest["sample_dir"] == str(copy)
    name = changed.filenames("SYN-M")[0]
    from_copy = sample.planted_sources(changed, "SYN-M", name)["articulatory"]
    from_default = sample.planted_sources(ds, "SYN-M", name)["articulatory"]
    assert not np.allclose(from_copy, from_default)
