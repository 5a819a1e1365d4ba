"""The CUDA paths: streaming accumulation on GPU tensors and extraction with ``device="cuda"``
(skipped where torch sees no GPU; ``benchmarks/bench_gpu.py`` times the same paths)."""

import numpy as np
import pytest
from fixtures import real_format
from test_streaming import chunked, make_layers

from tutorial_utils.cka import cka_matrix
from tutorial_utils.frames import n_model_frames
from tutorial_utils.scale import CKAAccumulator, streaming_cka_matrix

torch = pytest.importorskip("torch", reason="the extract extra (torch) is not installed")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA GPU")


def _steps(seed: int = 0) -> list[list[np.ndarray]]:
    """Correlated float32 layers with a large common offset, in chunks of uneven size."""
    layers = make_layers(481, dims=(24, 7, 40), seed=seed, offset=50.0)
    return chunked([x.astype(np.float32) for x in layers], [0, 90, 91, 424, 481])


@pytest.mark.parametrize("debiased", [False, True], ids=["biased", "debiased"])
def test_cuda_float64_accumulation_equals_the_in_memory_matrix(debiased):
    steps = _steps()
    on_gpu = [[torch.from_numpy(x).cuda() for x in step] for step in steps]
    accumulator = CKAAccumulator()
    for step in on_gpu:
        accumulator.update(step)
    assert accumulator._cross.device.type == "cuda"  # summed where the frames are
    whole = [np.concatenate([step[i] for step in steps]) for i in range(3)]
    expected = cka_matrix(whole, debiased=debiased)
    np.testing.assert_allclose(accumulator.result(debiased=debiased), expected, rtol=0, atol=1e-10)
    on_host = streaming_cka_matrix(steps, debiased=debiased)
    np.testing.assert_allclose(accumulator.result(debiased=debiased), on_host, rtol=0, atol=1e-10)


def test_cuda_float32_chunks_stay_close_to_float64():
    steps = [[torch.from_numpy(x).cuda() for x in step] for step in _steps(seed=1)]
    exact = streaming_cka_matrix(steps)
    fast = streaming_cka_matrix(steps, precision="float32-chunks")
    error = np.abs(fast - exact).max()
    assert 0 <= error < 1e-6, error


def test_cuda_extraction_matches_the_cpu():
    extractor, model = real_format.tiny_model(feat_extract_norm="layer", do_stable_layer_norm=True)
    from tutorial_utils.io import extract

    rng = np.random.default_rng(4)
    recordings = [(f"r{i}.mat", rng.standard_normal(n).astype(np.float32))
                  for i, n in enumerate((4000, 9100, 5200))]  # fmt: skip
    cpu = extract.extract_hidden_states(recordings, model, extractor, device="cpu", progress=False)
    gpu = extract.extract_hidden_states(recordings, model, extractor, device="cuda", progress=False)
    assert next(model.parameters()).device.type == "cuda"
    for layer in cpu:
        for name, audio in recordings:
            array = gpu[layer][name]
            assert isinstance(array, np.ndarray) and array.dtype == np.float32
            assert array.shape == cpu[layer][name].shape == (n_model_frames(audio.size), 16)
            # Full float32 (torch's default TF32 convolutions would differ by ~1e-3).
            np.testing.assert_allclose(array, cpu[layer][name], atol=1e-4, rtol=0)
    assert torch.backends.cudnn.allow_tf32  # torch's setting is restored afterwards
