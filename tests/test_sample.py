"""The built-in synthetic sample: its committed files, the real data's schema, determinism,
its log-mel (librosa's, without librosa.feature) and its planted ground truth."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys

import librosa
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tutorial_utils import load_dataset, sample, sentence_id
from tutorial_utils.cka import feature_space_linear_cka, gram_linear
from tutorial_utils.dataset import Dataset
from tutorial_utils.frames import EMA_COLUMNS, EMA_TABLE_COLUMNS, mfcc_frames, n_model_frames
from tutorial_utils.sample.encoder import log_mel_db, mel_filterbank
from tutorial_utils.sentences import sentence_means

SHARED = ["B01_S04", "B01_S18", "B01_S33", "B01_S42", "B01_S52"]


@pytest.fixture(scope="module")
def ds():
    return load_dataset("sample")


def test_committed_files_match_the_manifest():
    manifest = json.loads((sample.SAMPLE_DIR / "manifest.json").read_text())
    assert manifest["statement"] == "synthetic: VocalTractLab speech"
    assert "VERTICAL" in manifest["ema_convention"]["y_axis"]
    on_disk = {p.name for p in sample.SAMPLE_DIR.iterdir() if p.name != "manifest.json"}
    assert set(manifest["files"]) == {n for n in on_disk if not n.startswith(".")}
    assert sample._sha256(sample.SAMPLE_DIR / "manifest.json") == sample._MANIFEST_SHA256


def test_committed_tables_and_audio_agree():
    recordings = pd.read_csv(sample.SAMPLE_DIR / "recordings.csv")
    phones = pd.read_csv(sample.SAMPLE_DIR / "phones.csv", keep_default_na=False)
    assert list(recordings.columns) == [
        "PARTICIPANT", "FILENAME", "SENTENCE", "AUDIO_FILE", "N_SAMPLES", "SAMPLE_RATE",
    ]  # fmt: skip
    assert list(phones.columns) == ["PARTICIPANT", "FILENAME", "START_S", "END_S", "PHONE"]
    for row in recordings.itertuples(index=False):
        info = sf.info(sample.SAMPLE_DIR / row.AUDIO_FILE)
        assert (info.samplerate, info.frames, info.channels) == (16000, row.N_SAMPLES, 1)
        labels = phones[phones["FILENAME"] == row.FILENAME]
        assert (labels["PARTICIPANT"] == row.PARTICIPANT).all()
        start, end = labels["START_S"].to_numpy(), labels["END_S"].to_numpy()
        assert start[0] == 0.0 and (end > start).all()
        np.testing.assert_allclose(start[1:], end[:-1], atol=1e-6)
        assert abs(end[-1] - row.N_SAMPLES / 16000) < 0.02, row.FILENAME


def test_sample_has_the_real_schema(ds):
    assert ds.source == "sample" and ds.participants == ["SYN-F", "SYN-M"]
    assert "synthetic: VocalTractLab speech + simulated encoder" in ds.description
    assert [len(ds.recordings(p)) for p in ds.participants] == [10, 5]
    for p in ds.participants:
        table, ema, states = ds.recordings(p), ds.ema(p), ds.hidden_states(p)
        assert tuple(ema.columns) == EMA_TABLE_COLUMNS and sorted(states) == list(range(13))
        assert pd.api.types.is_integer_dtype(ema["TIMESTEP"])
        assert (ema[list(EMA_COLUMNS)].std() > 0.5).all()  # the sensors move
        for audio, name, text in table[["AUDIO", "FILENAME", "SENTENCE"]].itertuples(index=False):
            assert name.startswith(f"{p}_B01_S") and name.endswith("_R01_N.mat")
            assert audio.dtype == np.float32 and 0 < np.abs(audio).max() <= 1
            n_frames = n_model_frames(len(audio))
            assert all(states[layer][name].shape == (n_frames, 768) for layer in range(13))
            assert states[0][name].dtype == np.float32
            rows = ema[ema["FILENAME"] == name]
            assert abs(len(rows) - n_frames) <= 2 and (rows["SENTENCE"] == text).all()
            assert rows["TIMESTEP"].tolist() == list(range(len(rows)))
    shared = ds.shared_sentences("SYN-F", "SYN-M")
    assert sorted(shared["SENTENCE_ID"]) == SHARED
    for column in ("FILENAME_A", "FILENAME_B"):
        assert list(shared[column].map(sentence_id)) == list(shared["SENTENCE_ID"])


def test_builds_are_identical_and_read_only(ds):
    first = ds.hidden_state("SYN-M", 7, ds.filenames("SYN-M")[0]).copy()
    sample._build.cache_clear()
    again = load_dataset("sample").hidden_state("SYN-M", 7, ds.filenames("SYN-M")[0])
    np.testing.assert_array_equal(again, first)
    with pytest.raises(ValueError):
        again[0, 0] = 1.0


@pytest.mark.parametrize(("sr", "n_fft", "n_mels"), [(16000, 400, 40), (22050, 2048, 128)])
def test_mel_filterbank_is_librosas(sr, n_fft, n_mels):
    expected = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    np.testing.assert_allclose(mel_filterbank(sr, n_fft, n_mels), expected, rtol=1e-6, atol=0)


def test_log_mel_is_librosas_on_every_sample_recording(ds):
    for p, name in ds.pick_recordings():
        audio = ds.audio(p, name)
        mel = librosa.feature.melspectrogram(
            y=audio, sr=16000, n_fft=400, hop_length=320, center=False, n_mels=40
        )
        expected = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
        got = log_mel_db(audio, 16000, 400, 320, 40)
        assert got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)


def test_loading_the_sample_does_not_import_librosa_feature():
    code = (
        "import sys, tutorial_utils\n"
        "tutorial_utils.load_dataset('sample')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('librosa.feature', 'numba'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def mean_cka_per_layer(ds, participant, feature_of) -> np.ndarray:
    values = np.zeros(13)
    for name in ds.filenames(participant):
        feature = feature_of(name)
        for layer in range(13):
            frames = ds.hidden_state(participant, layer, name)[: len(feature)]
            values[layer] += feature_space_linear_cka(frames, feature[: len(frames)])
    return values / len(ds.filenames(participant))


def test_planted_acoustic_and_content_profiles_are_recovered(ds):
    truth = sample.ground_truth()
    assert list(truth.index) == list(range(13))
    assert list(truth.columns) == ["acoustic", "articulatory", "content", "speaker"]
    assert truth["acoustic"].idxmax() == 0 and 5 <= truth["content"].idxmax() <= 8
    p = "SYN-F"
    acoustic = mean_cka_per_layer(ds, p, lambda f: sample.planted_sources(ds, p, f)["acoustic"])
    content = mean_cka_per_layer(ds, p, lambda f: sample.planted_sources(ds, p, f)["content"])
    mfcc = mean_cka_per_layer(ds, p, lambda f: mfcc_frames(ds.audio(p, f)))
    assert acoustic[0] > acoustic[8] > acoustic[12] and mfcc[0] > mfcc[7]
    assert content[6] > content[0] and np.argmax(content) in range(4, 10)


def block_contrast(ds, layer) -> tuple[float, float]:
    """Mean similarity of same-speaker pairs and of same-sentence (other speaker) pairs."""
    shared = ds.shared_sentences("SYN-F", "SYN-M")
    a = sentence_means(ds, "SYN-F", layer, shared["FILENAME_A"])
    means = np.vstack([a, sentence_means(ds, "SYN-M", layer, shared["FILENAME_B"])])
    z = (means - means.mean(axis=0)) / means.std(axis=0)
    gram, n, off = gram_linear(z) / z.shape[1], len(a), ~np.eye(len(a), dtype=bool)
    same_speaker = np.concatenate([gram[:n, :n][off], gram[n:, n:][off]]).mean()
    return float(same_speaker), float(np.diag(gram[:n, n:]).mean())


def test_speaker_blocks_early_and_sentence_pairs_in_the_middle(ds):
    speaker_0, sentence_0 = block_contrast(ds, 0)
    speaker_7, sentence_7 = block_contrast(ds, 7)
    assert speaker_0 > sentence_0 and sentence_7 > speaker_7


def test_planted_sources_refuse_real_data_and_unknown_names(ds):
    class Real:
        source = "real"

    with pytest.raises(ValueError, match="synthetic sample"):
        sample.planted_sources(Real(), "F02", "x")
    with pytest.raises(KeyError, match="valid"):
        sample.planted_sources(ds, "SYN-M", "nope.mat")


def test_planted_sources_come_from_the_folder_the_dataset_was_built_from(tmp_path, ds, monkeypatch):
    copy = shutil.copytree(sample.SAMPLE_DIR, tmp_path / "sample")
    ema = pd.read_csv(copy / "ema_labels_SYN-M.csv")
    ema["TT_X"] = -ema["TT_X"]  # mirror the tongue tip in the copy
    ema.to_csv(copy / "ema_labels_SYN-M.csv", index=False)
    manifest = json.loads((copy / "manifest.json").read_text())  # a deliberate change: rehash
    manifest["files"]["ema_labels_SYN-M.csv"] = sample._sha256(copy / "ema_labels_SYN-M.csv")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(sample, "_MANIFEST_SHA256", sample._sha256(copy / "manifest.json"))
    hashed, real = [], sample._sha256
    monkeypatch.setattr(sample, "_sha256", lambda path: hashed.append(path) or real(path))
    changed = Dataset(**sample.sample_tables(copy))
    assert changed.manifest["sample_dir"] == str(copy) and sample.sample_tables(copy)
    assert len(hashed) == len(manifest["files"])  # each file hashed once per process
    name = changed.filenames("SYN-M")[0]
    from_copy = sample.planted_sources(changed, "SYN-M", name)["articulatory"]
    assert not np.allclose(from_copy, sample.planted_sources(ds, "SYN-M", name)["articulatory"])


def scaled_ema(data: bytes) -> bytes:
    return pd.read_csv(io.BytesIO(data)).eval("TT_X = TT_X * 10").to_csv(index=False).encode()


def dropped_entry(data: bytes) -> bytes:
    manifest = json.loads(data)
    del manifest["files"]["SYN-F_B01_S04_R01_N.flac"]  # then its file is not checked
    return json.dumps(manifest).encode()


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("SYN-F_B01_S04_R01_N.flac", lambda b: b[:5000] + bytes([b[5000] ^ 4]) + b[5001:]),
        ("ema_labels_SYN-M.csv", lambda b: b[: len(b) // 2]),  # truncated
        ("ema_labels_SYN-F.csv", lambda b: b"\n".join(b.split(b"\n")[::2])),  # rows dropped
        ("ema_labels_SYN-F.csv", scaled_ema),
        ("phones.csv", None),  # missing
        ("manifest.json", lambda b: b[:-40]),  # not JSON
        ("manifest.json", dropped_entry),  # itself pinned, not only the files it lists
    ],
)
def test_a_damaged_sample_says_reinstall(tmp_path, name, damage):
    copy = shutil.copytree(sample.SAMPLE_DIR, tmp_path / "sample")
    data = (copy / name).read_bytes()
    (copy / name).unlink() if damage is None else (copy / name).write_bytes(damage(data))
    what = rf"\({name}: missing or changed\)\. The installation is damaged: reinstall"
    with pytest.raises(ValueError, match=rf"damaged {what} .*pip install --force-reinstall"):
        sample.sample_tables(copy)
