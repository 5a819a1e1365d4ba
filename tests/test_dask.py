"""cka_matrix on dask arrays (the optional ``scale`` extra) equals the in-memory result."""

import math

import numpy as np
import pandas as pd
import pytest
from test_cka import C, degenerate_four_stimuli, oracle_linear_cka
from test_streaming import far_apart, make_layers

from tutorial_utils.cka import cka_matrix

da = pytest.importorskip("dask.array", reason="dask is optional: pip install '.[scale]'")
distributed = pytest.importorskip("distributed", reason="dask.distributed is optional (scale)")


@pytest.fixture(scope="module")
def client():
    options = {"processes": False, "n_workers": 2, "threads_per_worker": 1}
    with distributed.Client(dashboard_address=None, **options) as dask_client:
        yield dask_client


@pytest.mark.parametrize("debiased", [False, True])
def test_local_cluster_equals_in_memory_and_the_oracle(client, debiased):
    layers = make_layers(500, offset=100.0)
    layers.append(far_apart(layers[0]))  # finite, 1e350 apart: rescaled, not called "infinite"
    got = cka_matrix([da.from_array(x, chunks=(64, -1)) for x in layers], debiased=debiased)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, cka_matrix(layers, debiased=debiased), rtol=0, atol=1e-10)
    assert got[0, 1] == pytest.approx(oracle_linear_cka(layers[0], layers[1], debiased), abs=1e-10)


def test_layers_wider_than_two_blas_blocks_are_chunked_by_columns(client, monkeypatch):
    from tutorial_utils.scale import dask_route

    monkeypatch.setattr(C, "BLAS_BLOCK", 3)  # layers of 8 features: > 2 blocks, 3 columns a chunk
    real, seen = dask_route._sums, []
    monkeypatch.setattr(dask_route, "_sums", lambda z, *a: seen.append(z) or real(z, *a))
    layers = make_layers(200, dims=(8, 4), seed=5)
    got = cka_matrix([da.from_array(x, chunks=(50, -1)) for x in layers])
    np.testing.assert_allclose(got, cka_matrix(layers), rtol=0, atol=1e-12)
    assert [x.chunks[1] for x in seen[0]] == [(3, 3, 2), (4,)]


def test_dicts_cross_comparison_mixed_chunking_and_the_threads_scheduler(client):
    import dask

    layers = make_layers(300, dims=(6, 9, 3), seed=1)
    lazy = {
        "a": da.from_array(layers[0], chunks=((0, 100, 0, 200), 3)),  # empty ones are skipped
        "b": da.from_array(layers[1], chunks=(70, -1)),  # row chunks are aligned
    }
    targets = {"t": layers[2]}  # numpy arrays may ride along
    expected = cka_matrix(dict(zip("ab", layers[:2], strict=True)), targets, debiased=True)
    got = cka_matrix(lazy, targets, debiased=True)
    assert isinstance(got, pd.DataFrame) and [*got.index, *got.columns] == ["a", "b", "t"]
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-10)
    with dask.config.set(scheduler="threads"):  # no cluster needed
        got = cka_matrix(lazy, targets, debiased=True)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-10)


def test_policy_and_errors(client, monkeypatch):
    y = np.random.default_rng(3).standard_normal((4, 3))
    lazy = [da.from_array(degenerate_four_stimuli(), chunks=(2, -1)), da.from_array(y)]
    with pytest.warns(RuntimeWarning, match="undefined"):
        assert math.isnan(cka_matrix(lazy, debiased=True)[0, 1])
    other = da.from_array(np.random.default_rng(4).standard_normal((10, 2)), chunks=(4, -1))
    bad = da.where(da.arange(10)[:, None] == 7, np.nan, other)
    monkeypatch.setattr(C, "MEMORY_LIMIT", 1e6)  # 8 D² bytes: D = 400 is too wide
    for arrays, kwargs, message in [
        ([da.from_array(np.full((10, 2), np.iinfo(np.int64).min)), other], {}, "constant"),
        ([da.from_array(np.ones((10, 400))), other], {}, "402 × 402 float64.*fewer or narrower"),
        ([other, da.from_array(np.ones((11, 2)))], {}, "same, known number of rows"),
        ([other, bad], {}, "NaN or infinite"),
        ([da.from_array(y[:3]), da.from_array(y[:3])], {"debiased": True}, "at least 4"),
    ]:
        with pytest.raises(ValueError, match=message):
            cka_matrix(arrays, **kwargs)
