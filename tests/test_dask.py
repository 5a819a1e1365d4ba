"""cka_matrix on dask arrays (the optional ``scale`` extra) equals the in-memory result."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_cka import degenerate_four_stimuli, oracle_linear_cka

from tutorial_utils.cka import cka_matrix

da = pytest.importorskip("dask.array", reason="dask is optional: pip install '.[scale]'")
distributed = pytest.importorskip("distributed", reason="dask.distributed is optional (scale)")


def make_layers(n: int, dims=(4, 30, 7, 50), seed: int = 0, offset: float = 0.0) -> list:
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 5))
    return [
        latent @ rng.standard_normal((5, d)) + rng.standard_normal((n, d)) + offset for d in dims
    ]


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        yield dask_client


@pytest.mark.parametrize("debiased", [False, True])
def test_local_cluster_equals_in_memory(client, debiased):
    layers = make_layers(500, offset=100.0)
    lazy = [da.from_array(x, chunks=(64, -1)) for x in layers]
    expected = cka_matrix(layers, debiased=debiased)
    got = cka_matrix(lazy, debiased=debiased)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)
    assert got[0, 1] == pytest.approx(oracle_linear_cka(layers[0], layers[1], debiased), abs=1e-10)


@pytest.mark.parametrize("debiased", [False, True])
def test_dicts_cross_comparison_and_mixed_chunking(client, debiased):
    layers = make_layers(300, dims=(6, 9, 3), seed=1)
    lazy = {
        "a": da.from_array(layers[0], chunks=(100, 3)),  # column chunks are merged
        "b": da.from_array(layers[1], chunks=(70, -1)),  # row chunks are aligned
    }
    targets = {"t": layers[2]}  # numpy arrays may ride along
    got = cka_matrix(lazy, targets, debiased=debiased)
    expected = cka_matrix(dict(zip("ab", layers[:2], strict=True)), targets, debiased=debiased)
    assert isinstance(got, pd.DataFrame)
    assert list(got.index) == ["a", "b"] and list(got.columns) == ["t"]
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-10)


def test_threads_scheduler_without_a_cluster():
    import dask

    layers = make_layers(200, dims=(5, 8), seed=2)
    lazy = [da.from_array(x, chunks=(33, -1)) for x in layers]
    with dask.config.set(scheduler="threads"):
        got = cka_matrix(lazy, debiased=True)
    np.testing.assert_allclose(got, cka_matrix(layers, debiased=True), atol=1e-10)


def test_policy_and_errors(client):
    y = np.random.default_rng(3).standard_normal((4, 3))
    lazy = [da.from_array(degenerate_four_stimuli(), chunks=(2, -1)), da.from_array(y)]
    with pytest.warns(RuntimeWarning, match="undefined"):
        table = cka_matrix(lazy, debiased=True)
    assert math.isnan(table[0, 1])
    constant = da.from_array(np.full((10, 2), 3.0), chunks=(4, -1))
    other = da.from_array(np.random.default_rng(4).standard_normal((10, 2)), chunks=(4, -1))
    with pytest.raises(ValueError, match="constant"):
        cka_matrix([constant, other])
    with pytest.raises(ValueError, match="same, known number of rows"):
        cka_matrix([other, da.from_array(np.ones((11, 2)))])
    bad = np.random.default_rng(5).standard_normal((10, 2))
    bad[7, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        cka_matrix([other, da.from_array(bad, chunks=(4, -1))])
    with pytest.raises(ValueError, match="at least 4"):
        cka_matrix([da.from_array(y[:3]), da.from_array(y[:3])], debiased=True)
