"""Benchmark: ``cka`` on Grams vs the reference, and all-pairs ``cka_matrix`` vs its BLAS floor.

Run: ``python benchmarks/bench_cka.py`` (``--quick`` for a smaller smoke run). One BLAS thread.

First, ``cka(gram_linear(x), gram_linear(y))`` against the reference implementation of
Kornblith et al.'s demo (centre both Grams with their means, sum of the elementwise product,
norms; written below) at n = 300, 1000, 3000, timed alternately; target cka / reference <= 1.5.

Then, for 13 layers x 768 dims (float32 input, float64 arithmetic):
- the naive double loop of ``feature_space_linear_cka`` over all 13 x 13 pairs
  (at the smallest n only: it is the slow baseline),
- ``cka_matrix`` on the same layers,
- the floor: the minimal symmetric BLAS work of the route ``cka_matrix`` chooses,
  timed in the same run, alternating with ``cka_matrix`` so both see the same load:
  ``dsyrk`` for the 13 per-layer n x n Gram matrices of the centred float64
  features (Gram route), or one ``dsyrk`` of the concatenated features (feature route),
and the ratios naive / cka_matrix and cka_matrix / floor. Targets (scale issue):
cka_matrix / floor <= 1.5 at n = 1000 and 3000; naive / cka_matrix >= 10 at n = 1000.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.linalg import blas
from threadpoolctl import threadpool_info, threadpool_limits

from tutorial_utils.cka import choose_route, cka, cka_matrix, feature_space_linear_cka, gram_linear

N_LAYERS = 13
DIM = 768


def best_time(function, repeats: int) -> float:
    """Smallest wall time of ``repeats`` calls (seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def make_layers(n: int, seed: int = 0) -> list[np.ndarray]:
    """Correlated float32 'layers': a shared latent plus layer-specific noise."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 64))
    return [
        (latent @ rng.standard_normal((64, DIM)) + rng.standard_normal((n, DIM))).astype(np.float32)
        for _ in range(N_LAYERS)
    ]


def naive(layers: list[np.ndarray]) -> np.ndarray:
    return np.array([[feature_space_linear_cka(a, b) for b in layers] for a in layers])


def floor_work(layers: list[np.ndarray], route: str):
    """The symmetric rank-k BLAS updates any exact evaluation of the route needs."""
    centred = [x.astype(np.float64) - x.astype(np.float64).mean(axis=0) for x in layers]
    stacked = np.concatenate(centred, axis=1)

    def gram_route() -> None:
        for x in centred:
            blas.dsyrk(1.0, x.T, trans=1)  # x.T is Fortran-ordered: x xᵀ without a copy

    def feature_route() -> None:
        blas.dsyrk(1.0, stacked.T)  # stacked.T stacked, without a copy

    return gram_route if route == "gram" else feature_route


def interleaved(first, second, repeats: int) -> tuple[float, float]:
    """Best times of two functions timed alternately, so both see the same machine load."""
    times = [[], []]
    for _ in range(repeats):
        for slot, function in enumerate((first, second)):
            start = time.perf_counter()
            function()
            times[slot].append(time.perf_counter() - start)
    return min(times[0]), min(times[1])


def reference_cka(gram_x: np.ndarray, gram_y: np.ndarray) -> float:
    """Kornblith et al.'s demo: centre each Gram with its means, then HSIC ratios."""

    def centre(gram: np.ndarray) -> np.ndarray:
        means = gram.mean(axis=0)
        return gram - means[:, None] - means[None, :] + means.mean()

    kx, ky = centre(gram_x), centre(gram_y)
    return np.vdot(kx, ky) / np.sqrt(np.vdot(kx, kx) * np.vdot(ky, ky))


def run_grams(n: int, repeats: int) -> None:
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 256))
    y = x[:, :64] @ rng.standard_normal((64, 32)) + rng.standard_normal((n, 32))
    gx, gy = gram_linear(x), gram_linear(y)
    assert abs(cka(gx, gy) - reference_cka(gx, gy)) < 1e-12
    t_cka, t_ref = interleaved(lambda: cka(gx, gy), lambda: reference_cka(gx, gy), repeats)
    print(
        f"n={n:5d} cka(grams)={1e3 * t_cka:8.2f} ms reference={1e3 * t_ref:8.2f} ms "
        f"cka/reference={t_cka / t_ref:5.2f}x",
        flush=True,
    )


def run(n: int, repeats: int, with_naive: bool) -> None:
    layers = make_layers(n)
    route = choose_route(n, [DIM] * N_LAYERS)
    result = cka_matrix(layers)
    t_matrix, t_floor = interleaved(lambda: cka_matrix(layers), floor_work(layers, route), repeats)
    line = (
        f"n={n:5d} route={route:7s} cka_matrix={t_matrix:7.3f}s floor(dsyrk)={t_floor:7.3f}s "
        f"cka_matrix/floor={t_matrix / t_floor:5.2f}x"
    )
    if with_naive:
        start = time.perf_counter()
        reference = naive(layers)
        t_naive = time.perf_counter() - start
        np.testing.assert_allclose(result, reference, atol=1e-9)
        line += f"  naive={t_naive:8.3f}s naive/cka_matrix={t_naive / t_matrix:6.1f}x"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n=300 only, one repeat")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats (best is kept)")
    args = parser.parse_args()
    with threadpool_limits(limits=1):
        blas_info = [(i["internal_api"], i["num_threads"]) for i in threadpool_info()]
        print(f"BLAS: {blas_info}")
        for n in [300] if args.quick else [300, 1000, 3000]:
            run_grams(n, 3 if args.quick else max(args.repeats, 7))
        print(f"layers={N_LAYERS} x {DIM} dims, float32 input, float64 arithmetic")
        sizes = [300] if args.quick else [1000, 3000]
        for n in sizes:
            run(n, 1 if args.quick else args.repeats, with_naive=n == sizes[0])


if __name__ == "__main__":
    main()
