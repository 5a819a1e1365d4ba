"""Hidden-state extraction with a tiny randomly initialised Wav2Vec2 (no download)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tutorial_utils.frames import n_model_frames

torch = pytest.importorskip("torch", reason="the extract extra (torch) is not installed")
transformers = pytest.importorskip("transformers", reason="the extract extra is not installed")

from tutorial_utils.io import devices, extract  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "real_format", Path(__file__).parent / "fixtures" / "real_format.py"
)
real_format = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(real_format)
tiny_model = real_format.tiny_model


def test_hidden_states_count_and_frames():
    extractor, model = tiny_model(layers=3)
    audio = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    states = extract.hidden_states(audio, model, extractor)
    assert len(states) == 3 + 1
    assert all(s.shape == (n_model_frames(5000), 16) and s.dtype == np.float32 for s in states)


def test_extract_hidden_states_layout():
    extractor, model = tiny_model()
    rng = np.random.default_rng(1)
    recordings = [("a.mat", rng.standard_normal(4000)), ("b.mat", rng.standard_normal(7123))]
    states = extract.extract_hidden_states(recordings, model, extractor, progress=False)
    assert sorted(states) == [0, 1, 2]
    assert states[2]["b.mat"].shape == (n_model_frames(7123), 16)
    again = extract.extract_hidden_states(recordings, model, extractor, progress=False)
    np.testing.assert_array_equal(states[1]["a.mat"], again[1]["a.mat"])  # deterministic


def test_normalisation_matters_like_the_original():
    extractor, model = tiny_model()
    audio = np.random.default_rng(2).standard_normal(3000).astype(np.float32) * 0.01 + 0.3
    normalised = extract.hidden_states(audio, model, extractor)[-1]
    manual = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    np.testing.assert_allclose(normalised, extract.hidden_states(manual, model)[-1], atol=1e-4)


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
        extract.hidden_states(np.zeros(4000, np.float32), model, extractor)
        monkeypatch.setattr(extract, "ALLOW_TF32", True)
        extract.hidden_states(np.zeros(4000, np.float32), model, extractor)
        assert [switch.allow_tf32 for switch in switches] == [True, True]  # restored
    finally:
        for switch, value in zip(switches, saved, strict=True):
            switch.allow_tf32 = value
    assert seen == [(False, False), (True, True)]


def test_require_torch_message(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_transformers(name, *args, **kwargs):
        if name == "transformers":
            raise ImportError("no transformers", name="transformers")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_transformers)
    with pytest.raises(ImportError, match="pip install torch==2.13.0 transformers"):
        extract.require_torch()


# -- devices and batching ----------------------------------------------------------------------

LENGTHS = (4000, 9100, 5200, 7123, 4321)


def _recordings(seed=3):
    rng = np.random.default_rng(seed)
    return [(f"r{i}.mat", rng.standard_normal(n).astype(np.float32)) for i, n in enumerate(LENGTHS)]


def _spy_batches(monkeypatch):
    """Record the number of recordings of every forward pass."""
    sizes = []
    forward = extract._forward

    def spy(model, values):
        sizes.append(len(values))
        return forward(model, values)

    monkeypatch.setattr(extract, "_forward", spy)
    return sizes


@pytest.mark.parametrize("stable", [False, True], ids=["post-norm", "stable-layer-norm"])
def test_layer_norm_front_end_batches_equal_one_at_a_time(monkeypatch, stable):
    extractor, model = tiny_model(feat_extract_norm="layer", do_stable_layer_norm=stable)
    assert extract.can_batch(model)
    recordings = _recordings()
    single = extract.extract_hidden_states(
        recordings, model, extractor, device="cpu", batch_size=1, progress=False
    )
    sizes = _spy_batches(monkeypatch)
    batched = extract.extract_hidden_states(
        recordings, model, extractor, device="cpu", batch_size=3, progress=False
    )
    assert sizes == [3, 2]
    assert list(batched[0]) == [name for name, _ in recordings]  # input order kept
    for layer in single:
        for name, audio in recordings:
            array = batched[layer][name]
            assert array.shape == (n_model_frames(audio.size), 16) and array.dtype == np.float32
            np.testing.assert_allclose(array, single[layer][name], atol=1e-5, rtol=0)


def test_group_norm_front_end_runs_one_at_a_time(monkeypatch):
    extractor, model = tiny_model()  # feat_extract_norm="group", like wav2vec2-base
    assert not extract.can_batch(model)
    recordings = _recordings()[:3]
    values = [extract._input_values(audio, extractor) for _, audio in recordings]
    padded = extract._forward(model, values)  # what a padded batch would give
    alone = [extract._forward(model, [v])[0] for v in values]
    leak = max(np.abs(p[-1] - a[-1]).max() for p, a in zip(padded, alone, strict=True))
    assert leak > 1e-2  # group norm mixes the padding into every frame
    sizes = _spy_batches(monkeypatch)
    states = extract.extract_hidden_states(
        recordings, model, extractor, device="cpu", batch_size=8, progress=False
    )
    assert sizes == [1, 1, 1]
    np.testing.assert_array_equal(states[2][recordings[0][0]], alone[0][2])


def test_default_batch_size_is_one_on_the_cpu_and_eight_on_a_gpu(monkeypatch):
    assert extract.default_batch_size("cpu") == 1
    assert extract.default_batch_size("cuda") == extract.default_batch_size("cuda:1") == 8
    extractor, model = tiny_model(feat_extract_norm="layer")
    sizes = _spy_batches(monkeypatch)
    extract.extract_hidden_states(_recordings(), model, extractor, device="cpu", progress=False)
    assert sizes == [1] * len(_recordings())


def test_can_batch_and_length_batches():
    assert not extract.can_batch(object())
    assert extract.length_batches([30, 10, 20, 10], 2) == [[1, 3], [2, 0]]
    assert extract.length_batches([5, 4, 3], 1) == [[2], [1], [0]]
    with pytest.raises(ValueError, match="batch_size"):
        extract.length_batches([1], 0)


@pytest.mark.parametrize(
    ("cuda", "asked", "expected"),
    [
        (True, "auto", "cuda"),
        (False, "auto", "cpu"),
        (True, "cpu", "cpu"),
        (True, "cuda", "cuda"),
        (True, "CUDA:1", "cuda:1"),
    ],
)
def test_resolve_device(monkeypatch, cuda, asked, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert extract.resolve_device(asked) == expected


def test_cuda_without_a_gpu_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(devices.DeviceUnavailable, match="--device cpu"):
        extract.resolve_device("cuda")
    with pytest.raises(ValueError, match="Unknown device"):
        extract.resolve_device("tpu")


def test_cli_cuda_without_a_gpu_exits_2_with_one_message(monkeypatch, tmp_path, capsys):
    from tutorial_utils.io import cli

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(cli, "run", lambda *a, **k: pytest.fail("nothing may be downloaded"))
    assert cli.main(["--device", "cuda", "--data-dir", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "torch sees no CUDA GPU" in " ".join(err.split()) and "Traceback" not in err


def test_cli_passes_device_batch_size_and_store(monkeypatch, tmp_path):
    from tutorial_utils.io import cli

    seen = {}
    monkeypatch.setattr(cli, "run", lambda *a, **k: seen.update(k) or tmp_path)  # returns the cache
    argv = ["--device", "cpu", "--batch-size", "4", "--store", "npy", "--quiet"]
    assert cli.main([*argv, "--data-dir", str(tmp_path)]) == 0
    assert (seen["device"], seen["batch_size"], seen["store"]) == ("cpu", 4, "npy")
    with pytest.raises(SystemExit) as info:
        cli.main(["--batch-size", "0"])
    assert info.value.code == 2


def test_importing_the_data_tools_does_not_import_torch():
    code = (
        "import sys, tutorial_utils.io.extract, tutorial_utils.io.store, tutorial_utils.io.cli; "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
    )
    assert result.stdout.split() == ["False", "False"]
