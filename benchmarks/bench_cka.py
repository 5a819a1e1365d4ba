"""Benchmark: all-pairs layer CKA, naive loop vs cka_matrix vs the BLAS floor.

Run: ``python benchmarks/bench_cka.py`` (``--quick`` for a smaller smoke run).

Prints, for 13 layers x 768 dims (float32 input, float64 arithmetic):
- the naive double loop of ``feature_space_linear_cka`` over all 13 x 13 pairs,
- ``cka_matrix`` on the same layers,
- the floor: the minimal GEMM work of the route ``cka_matrix`` chooses (for these
  sizes, the 13 per-layer n x n Gram products of the centred float64 features),
and the ratios naive / cka_matrix and cka_matrix / floor. Targets from the
foundation issue: naive / cka_matrix >= 10 at n = 1000; cka_matrix / floor <= 2.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_info

from tutorial_utils.cka import choose_route, cka_matrix, feature_space_linear_cka

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


def floor(layers: list[np.ndarray], route: str) -> None:
    """The GEMMs that any exact evaluation of the chosen route has to do."""
    centred = [x.astype(np.float64) - x.astype(np.float64).mean(axis=0) for x in layers]
    start = time.perf_counter()
    if route == "gram":
        for x in centred:
            x @ x.T  # noqa: B018 - timed for its cost
    else:
        stacked = np.concatenate(centred, axis=1)
        stacked.T @ stacked  # noqa: B018
    return time.perf_counter() - start


def run(n: int, repeats: int) -> None:
    layers = make_layers(n)
    route = choose_route(n, [DIM] * N_LAYERS)
    t_naive = best_time(lambda: naive(layers), 1)
    t_matrix = best_time(lambda: cka_matrix(layers), repeats)
    t_floor = min(floor(layers, route) for _ in range(repeats))
    np.testing.assert_allclose(cka_matrix(layers), naive(layers[:2] + layers[2:]), atol=1e-9)
    print(
        f"n={n:5d} route={route:7s} naive={t_naive:8.3f}s  cka_matrix={t_matrix:7.3f}s  "
        f"floor={t_floor:7.3f}s  naive/cka_matrix={t_naive / t_matrix:6.1f}x  "
        f"cka_matrix/floor={t_matrix / t_floor:5.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n=300 only, one repeat")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats (best is kept)")
    args = parser.parse_args()
    blas = [(i["internal_api"], i["num_threads"]) for i in threadpool_info()]
    print(f"BLAS: {blas}; layers={N_LAYERS} x {DIM} dims, float32 input, float64 arithmetic")
    sizes = [300] if args.quick else [1000, 3000]
    for n in sizes:
        run(n, 1 if args.quick else args.repeats)


if __name__ == "__main__":
    main()
