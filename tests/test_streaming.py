"""The streaming accumulator (tutorial_utils.scale) against cka_matrix and the oracle."""

import math
from functools import partial

import numpy as np
import pandas as pd
import pytest
from test_cka import C, degenerate_four_stimuli, oracle_linear_cka

from tutorial_utils.cka import cka_matrix
from tutorial_utils.scale import CKAAccumulator, moments, streaming_cka_matrix
from tutorial_utils.scale import streaming as S


def make_layers(n: int, dims=(4, 30, 7, 50), seed: int = 0, offset: float = 0.0) -> list:
    """Correlated layers (a shared latent) plus an offset."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 5))
    return [
        latent @ rng.standard_normal((5, d)) + rng.standard_normal((n, d)) + offset for d in dims
    ]


def far_apart(x: np.ndarray) -> np.ndarray:
    """Finite, but its halves 1e350 apart in scale: sums at the first half's scale overflow."""
    return np.concatenate([x[: len(x) // 2] * 1e-175, x[len(x) // 2 :] * 1e175])


def chunked(layers: list, cuts: list[int]) -> list[list[np.ndarray]]:
    return [[x[a:b] for x in layers] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize(
    ("n", "dims", "cuts", "offset", "scale"),
    [
        (300, (4, 30, 7, 50), [0, 1, 2, 50, 51, 133, 200, 300], 1e3, 1.0),  # uneven, offset
        (40, (3, 9, 5), list(range(41)), 0.0, 1.0),  # one frame per chunk
        (12, (1100, 150), [0, 5, 12], 0.0, 1.0),  # d >> n (debiasing matters); > 1 strip
        (80, (4, 6), [0, 40, 80], 0.0, 1e-150),  # float64's range: CKA ignores scale
        (80, (4, 6), [0, 40, 80], 0.0, 1e150),
    ],
)
def test_equals_the_oracle_and_cka_matrix_float32_close(debiased, n, dims, cuts, offset, scale):
    layers = make_layers(n, dims, seed=n, offset=offset)
    steps = chunked([layers[0] * scale, *layers[1:]], cuts)
    got = streaming_cka_matrix((iter(step) for step in steps), debiased=debiased)  # iterators
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, cka_matrix(layers, debiased=debiased), rtol=0, atol=1e-10)
    oracle = [[oracle_linear_cka(a, b, debiased) for b in layers] for a in layers]
    np.testing.assert_allclose(got, oracle, rtol=0, atol=1e-10)
    fast = streaming_cka_matrix(steps, debiased=debiased, precision="float32-chunks")
    assert 0 < np.max(np.abs(fast - got)) < 1e-5


def test_dict_steps_give_a_labelled_frame_in_first_step_order_at_every_step():
    layers = make_layers(90, dims=(5, 8, 6), seed=4)
    names = ["mfcc", 3, "ema"]
    steps = [dict(zip(names, chunk, strict=True)) for chunk in chunked(layers, [0, 30, 31, 90])]
    steps[1] = {key: steps[1][key] for key in reversed(names)}  # key order may change
    acc = CKAAccumulator().update(steps[0])
    first = acc.result(debiased=True).to_numpy()
    got = acc.update(steps[1]).update(steps[2]).result(debiased=True)
    expected = cka_matrix(dict(zip(names, layers, strict=True)), debiased=True)
    assert isinstance(got, pd.DataFrame) and list(got.index) == list(got.columns) == names
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-10)
    early = cka_matrix([x[:30] for x in layers], debiased=True)
    assert acc.n_frames == 90 and np.allclose(first, early, rtol=0, atol=1e-10)


@pytest.mark.parametrize("debiased", [False, True])
def test_torch_chunks_equal_the_numpy_path(debiased):
    torch = pytest.importorskip("torch", reason="torch is optional (extract extra)")
    layers = [x.astype(np.float32) for x in make_layers(200, seed=8, offset=3.0)]
    steps = chunked(layers, [0, 1, 70, 200])
    tensors = [[torch.from_numpy(x) for x in step] for step in steps]
    expected = streaming_cka_matrix(steps, debiased=debiased)
    got = streaming_cka_matrix(tensors, debiased=debiased)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)
    fast = streaming_cka_matrix(tensors, debiased=debiased, precision="float32-chunks")
    assert np.max(np.abs(fast - expected)) < 1e-5
    table = streaming_cka_matrix([{"a": t[0], "b": t[1]} for t in tensors], debiased=debiased)
    assert table.loc["a", "b"] == pytest.approx(expected[0, 1], abs=1e-10)
    far = chunked([far_apart(layers[0].astype(float)), layers[1]], [0, 100, 200])
    got = streaming_cka_matrix([[torch.from_numpy(x) for x in step] for step in far])
    np.testing.assert_allclose(got, streaming_cka_matrix(far), rtol=0, atol=1e-10)  # rescaled
    with pytest.raises(ValueError, match="mixes torch tensors"):
        CKAAccumulator().update(steps[0]).update(tensors[1])
    with pytest.raises(ValueError, match="mixes torch tensors"):
        CKAAccumulator().update([layers[0], tensors[0][0]])


def test_sums_on_a_gpu_are_checked_against_the_gpus_free_memory(monkeypatch):
    torch = pytest.importorskip("torch", reason="torch is optional (extract extra)")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (1e6, 8e10))
    with pytest.raises(C.NotEnoughMemoryError, match="400 × 400 .* available on the GPU"):
        moments.check_memory(400, 2, 3, torch.device("cuda"))
    moments.check_memory(400, 2, 3, torch.device("cpu"))  # the host's memory: enough


def test_wide_products_are_tiled_below_openblas_crashing_size(monkeypatch):
    """OpenBLAS 0.3.31 segfaults on a product with a ~32,760² output: no BLAS call writes one."""
    assert all(s.stop - s.start <= 16_384 for tile in C.tiles(40_000, 38_760) for s in tile)
    assert len(C.tiles(16_384, 9_984)) == 1  # up to 2 × BLAS_BLOCK: one call, as before
    layers = make_layers(60, dims=(4, 9, 7), seed=6)  # 20 features: tiles of 3 below
    runs = [
        partial(cka_matrix, layers, route="feature"),
        partial(cka_matrix, layers[:1], layers[1:], route="feature"),  # 4 × 16 features
        *(
            partial(streaming_cka_matrix, chunked(layers, [0, 25, 60]), precision=p)
            for p in S.PRECISIONS
        ),
    ]
    whole, calls, tiles = [run() for run in runs], [], C.tiles
    monkeypatch.setattr(C, "BLAS_BLOCK", 3)
    for module in (C, S):
        monkeypatch.setattr(
            module, "tiles", lambda *a, **k: calls.append(tiles(*a, **k)) or calls[-1]
        )
    for run, expected, atol in zip(runs, whole, [1e-12, 1e-12, 1e-12, 1e-6], strict=True):
        np.testing.assert_allclose(run(), expected, rtol=0, atol=atol)
    assert [len(c) for c in calls] == [28, 12] + [49, 28] * 4  # upper 7 × 7 tiles; 2 × 6; ...


@pytest.mark.filterwarnings("error")  # no overflow warning; none for well-defined inputs
def test_policy_constant_raises_undefined_is_nan_with_a_warning_far_scales_are_fine():
    layers = make_layers(30, dims=(3, 4), seed=10)
    lowest = np.full((30, 2), np.iinfo(np.int64).min)  # -lowest does not exist in int64
    for debiased in (False, True):
        with pytest.raises(ValueError, match="is constant across"):
            streaming_cka_matrix(chunked([layers[0], lowest], [0, 7, 30]), debiased=debiased)
    x, y = degenerate_four_stimuli(), np.random.default_rng(11).standard_normal((4, 3))
    for cuts in ([0, 4], [0, 1, 2, 3, 4], [0, 3, 4]):
        with pytest.warns(RuntimeWarning, match="undefined"):
            table = streaming_cka_matrix(chunked([x, y], cuts), debiased=True)
        assert math.isnan(table[0, 1]) and math.isnan(table[0, 0]) and table[1, 1] == 1.0
    streaming_cka_matrix(chunked(layers, [0, 10, 30]), debiased=True)
    far = [far_apart(layers[0]), layers[1]]  # finite: rescaled, not called "infinite"
    got = streaming_cka_matrix(chunked(far, [0, 15, 30]), debiased=True)
    np.testing.assert_allclose(got, cka_matrix(far, debiased=True), rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([[np.ones((3, 2))], [np.ones((3, 2)), np.ones((3, 2))]], "has 2 layers"),
        ([[np.ones((3, 2))], [np.ones((3, 5))]], "has 5 features"),
        ([{"a": np.ones((3, 2))}, {"b": np.ones((3, 2))}], "same layers"),
        ([{"a": np.ones((3, 2))}, [np.ones((3, 2))]], "same kind"),
        ([[np.ones((3, 2)), np.ones((4, 2))]], "same, non-zero number of frames"),
        ([[np.ones((0, 2))]], "non-zero number of frames"),
        ([[np.ones(3)]], "2-D"),
        ([np.ones((3, 2))], "wrap a single layer"),
        ([[]], "at least one layer"),
        ([[np.array([[1.0, np.nan], [0.0, 1.0]])]], "NaN or infinite"),
        ([[np.ones((3, 2), dtype=complex)]], "real numbers"),
        ([], "No frames"),
        ([[np.ones((3, 2))]], "precision"),
        ([[np.eye(1, 2)]], "at least 2"),  # frames in all
        ([[np.eye(2)], [np.eye(1, 2)]], "at least 4"),  # debiased
        ([[np.ones((3, 200)), np.ones((3, 200))]], "400 × 400 float64.*fewer or narrower"),
    ],
)
def test_bad_steps_are_refused_with_a_clear_message(steps, message, monkeypatch):
    monkeypatch.setattr(C, "MEMORY_LIMIT", 1e6)  # 8 D² bytes: D = 400 is too wide
    precision = "float16" if message == "precision" else "float64"
    with pytest.raises(ValueError, match=message):
        streaming_cka_matrix(steps, precision=precision, debiased=message == "at least 4")
