"""Hidden-state extraction with a tiny randomly initialised Wav2Vec2 (no download; needs the
extract extra, skipped without it)."""

import os
import pickle

import numpy as np
import pytest
from fixtures import io_setup

from tutorial_utils import load_dataset
from tutorial_utils.frames import n_model_frames
from tutorial_utils.io import extract
from tutorial_utils.io.cli import main

torch = pytest.importorskip("torch", reason="the extract extra (torch) is not installed")
transformers = pytest.importorskip("transformers", reason="the extract extra is not installed")
tiny_model = io_setup.real_format.tiny_model


def test_hidden_states_count_frames_order_and_determinism():
    extractor, model = tiny_model(layers=2)
    rng = np.random.default_rng(1)
    recordings = [("b.mat", rng.standard_normal(7123)), ("a.mat", rng.standard_normal(4000))]
    states = extract.extract_hidden_states(recordings, model, extractor, progress=False)
    assert sorted(states) == [0, 1, 2] and list(states[0]) == ["b.mat", "a.mat"]
    for name, audio in recordings:
        array = states[2][name]
        assert array.shape == (n_model_frames(audio.size), 16) and array.dtype == np.float32
    again = extract.extract_hidden_states(recordings, model, extractor, progress=False)
    np.testing.assert_array_equal(states[1]["a.mat"], again[1]["a.mat"])


def _last_layer(audio, model, extractor=None):
    states = extract.extract_hidden_states([("a", audio)], model, extractor, progress=False)
    return states[max(states)]["a"]


def test_normalisation_matters_like_the_original():
    extractor, model = tiny_model()
    audio = np.random.default_rng(2).standard_normal(3000).astype(np.float32) * 0.01 + 0.3
    manual = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    np.testing.assert_allclose(
        _last_layer(audio, model, extractor), _last_layer(manual, model), atol=1e-4
    )


def test_the_forward_pass_runs_without_tf32_and_restores_torch_switches(monkeypatch):
    extractor, model = tiny_model(layers=1)
    forward, seen = model.forward, []

    def spy(*args, **kwargs):
        seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32))
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", spy)
    switches = (torch.backends.cudnn, torch.backends.cuda.matmul)  # not monkeypatch-able
    saved = [switch.allow_tf32 for switch in switches]
    try:
        for switch in switches:
            switch.allow_tf32 = True
        _last_layer(np.zeros(4000, np.float32), model, extractor)
        monkeypatch.setattr(extract, "ALLOW_TF32", True)
        _last_layer(np.zeros(4000, np.float32), model, extractor)
        assert [switch.allow_tf32 for switch in switches] == [True, True]  # restored
    finally:
        for switch, value in zip(switches, saved, strict=True):
            switch.allow_tf32 = value
    assert seen == [(False, False), (True, True)]


@pytest.mark.parametrize(
    ("cuda", "asked", "expected"),
    [(True, "auto", "cuda"), (False, "auto", "cpu"), (True, "cpu", "cpu")],
)
def test_resolve_device(monkeypatch, cuda, asked, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert extract.resolve_device(asked) == expected
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="--device cpu"):
        extract.resolve_device("cuda")


def test_the_default_run_reextracts_the_features(tmp_path, monkeypatch):
    drive = io_setup.FakeDrive(io_setup.write_f02(tmp_path / "drive")).install(monkeypatch)
    monkeypatch.setattr(extract, "load_model", lambda name: tiny_model(layers=2))
    cache = tmp_path / "cache"
    args = ["--data-dir", str(cache), "--quiet", "--model", "tiny/random", "--participants", "F02"]
    assert main([*args, "--device", "cpu"]) == 0
    assert "frame_states_p1_test.pkl" not in drive.downloads
    ds = load_dataset("real", cache)
    assert ds.layers == [0, 1, 2] and ds.model_name == "tiny/random"
    for name, n in io_setup.F02_FRAMES.items():
        assert ds.hidden_state("F02", 2, name).shape == (n, 16)


@pytest.mark.parametrize(
    ("audio", "message"),
    [(np.zeros(399), r"^bad\.mat \(399 samples\): shorter than one model"),
     (np.zeros((4000, 2)), r"^bad\.mat: the audio must be one channel"),
     (np.r_[np.zeros(4000), np.nan], r"^bad\.mat: the audio must be one channel of finite")],
)  # fmt: skip
def test_audio_the_model_cannot_take_is_named(audio, message):
    pairs = [("a.mat", np.zeros(4000)), ("bad.mat", audio)]
    with pytest.raises(ValueError, match=message):
        extract.extract_hidden_states(pairs, *tiny_model(layers=1)[::-1], progress=False)


def test_a_model_folder_that_torch_refuses_is_one_paragraph(tmp_path, capsys):
    for part in tiny_model(layers=1):  # the feature extractor and the model
        part.save_pretrained(tmp_path / "model")
    (tmp_path / "model" / "model.safetensors").unlink()
    (tmp_path / "model" / "pytorch_model.bin").write_bytes(pickle.dumps({"w": os.getcwd}))
    folder, _ = io_setup.write_f02(tmp_path / "drive"), capsys.readouterr()
    args = ["--from-dir", str(folder), "--data-dir", str(tmp_path / "cache"), "--device", "cpu"]
    assert main([*args, "--quiet", "--model", str(tmp_path / "model")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Traceback" not in err and f"Could not load the model '{tmp_path / 'model'}'" in err


@pytest.mark.parametrize("error", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB"),
    RuntimeError("CUDA error: an illegal memory access was encountered\n..."),
], ids=["out-of-memory", "cuda-error"])  # fmt: skip
def test_a_gpu_failure_mid_extraction_is_one_paragraph_and_keeps_the_cache(
    tmp_path, monkeypatch, capsys, error
):
    extractor, model = tiny_model(layers=1)
    monkeypatch.setattr(extract, "load_model", lambda name: (extractor, model))
    cache, folder = tmp_path / "cache", io_setup.write_f02(tmp_path / "drive")
    args = ["--from-dir", str(folder), "--data-dir", str(cache), "--device", "cpu", "--quiet"]
    assert main(args) == 0
    manifest, forward, calls = (cache / "manifest.json").read_bytes(), model.forward, iter([1])

    def failing(*args, **kwargs):  # the first recording runs, the second fails
        if next(calls, None) is None:
            raise error
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", failing)
    assert main([*args, "--model", "other/model"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Traceback" not in err and "The model failed on F02_B01_S33_R01_N.mat (0." in err
    assert f"cpu; {type(error).__name__}: {str(error).splitlines()[0]}): free memory" in err
    assert "after a CUDA error, restart the runtime, and run again; or use --device cpu." in err
    assert (cache / "manifest.json").read_bytes() == manifest and io_setup.leftovers(cache) == []
