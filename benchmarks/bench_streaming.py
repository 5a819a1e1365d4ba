"""Benchmark: streaming all-pairs CKA over 13 x 768 layers, against its BLAS floor and dask.

Run: ``python benchmarks/bench_streaming.py`` (``--frames 10000`` for a quick run).

Frames are generated chunk by chunk (a shared latent plus layer noise, float32),
so nothing but one chunk and the accumulator's sums is ever in memory. Prints:

1. the accumulator (``CKAAccumulator.update`` per chunk, then ``result``): time,
   frames/second and peak RSS (``resource.getrusage``; target <= 2 GiB);
2. the floor: the same rank-k updates alone (``dsyrk`` of each concatenated float64
   chunk into one (D, D) matrix), timed in the same run, and the ratio
   accumulator / floor (target <= 1.3);
3. ``cka_matrix`` on dask arrays built lazily from the same chunks, on a
   ``LocalCluster`` with 2 workers: time (generation included, so compare it with
   the streaming time that includes generation) and its difference from the
   streaming result;
The torch path (CPU or CUDA tensors, float64 and float32-chunks) is timed by
``bench_gpu.py`` (``--device cpu`` on a machine without a GPU).

Data generation is not timed in (1) and (2). BLAS threads are left as configured.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
from scipy.linalg import blas

from tutorial_utils.scale import CKAAccumulator

N_LAYERS, DIM, LATENT = 13, 768, 64


def chunk_sizes(frames: int, chunk: int) -> list[int]:
    return [min(chunk, frames - start) for start in range(0, frames, chunk)]


def make_chunk(k: int, m: int, seed: int = 0) -> list[np.ndarray]:
    """Chunk ``k`` (``m`` frames) of 13 correlated float32 layers; the same every call."""
    mixing = np.random.default_rng(seed)
    mixes = [mixing.standard_normal((LATENT, DIM)) / 8 for _ in range(N_LAYERS)]
    rng = np.random.default_rng([seed, k])
    latent = rng.standard_normal((m, LATENT))
    noise = rng.standard_normal((m, N_LAYERS * DIM), dtype=np.float32)
    return [
        (latent @ mix).astype(np.float32) + noise[:, i * DIM : (i + 1) * DIM] + 2.0
        for i, mix in enumerate(mixes)
    ]


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux


def streaming(sizes: list[int], **options) -> tuple[np.ndarray, float, float]:
    """Accumulator result, its time (updates + result), and wall time with generation."""
    accumulator = CKAAccumulator(**options)
    busy, wall = 0.0, time.perf_counter()
    for k, m in enumerate(sizes):
        chunk = make_chunk(k, m)
        start = time.perf_counter()
        accumulator.update(chunk)
        busy += time.perf_counter() - start
    start = time.perf_counter()
    result = accumulator.result()
    busy += time.perf_counter() - start
    return result, busy, time.perf_counter() - wall


def floor(sizes: list[int]) -> float:
    """Time of the rank-k updates alone: dsyrk of each float64 chunk into one (D, D) sum."""
    total = np.zeros((N_LAYERS * DIM, N_LAYERS * DIM), order="F")
    busy = 0.0
    for k, m in enumerate(sizes):
        z = np.concatenate(make_chunk(k, m), axis=1, dtype=np.float64)
        start = time.perf_counter()
        total = blas.dsyrk(1.0, z.T, beta=1.0, c=total, overwrite_c=1)
        busy += time.perf_counter() - start
    return busy


def dask_run(sizes: list[int], reference: np.ndarray) -> None:
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    from tutorial_utils.cka import cka_matrix

    chunks = [dask.delayed(make_chunk, pure=True)(k, m) for k, m in enumerate(sizes)]
    layers = [
        da.concatenate(
            [
                da.from_delayed(c[i], (m, DIM), np.float32)
                for c, m in zip(chunks, sizes, strict=True)
            ]
        )
        for i in range(N_LAYERS)
    ]
    with (
        LocalCluster(
            processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        start = time.perf_counter()
        result = cka_matrix(layers)
        elapsed = time.perf_counter() - start
    print(
        f"dask LocalCluster(2 workers): {elapsed:8.1f}s (generation included) "
        f"{sum(sizes) / elapsed:8.0f} frames/s  max|dask - streaming| = "
        f"{np.max(np.abs(result - reference)):.1e}  peak RSS so far {peak_rss_gib():.2f} GiB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000, help="frames in total")
    parser.add_argument("--chunk", type=int, default=1000, help="frames per chunk")
    parser.add_argument("--no-dask", action="store_true", help="skip the dask run")
    args = parser.parse_args()
    sizes = chunk_sizes(args.frames, args.chunk)
    print(
        f"{N_LAYERS} layers x {DIM} dims, {args.frames} frames in chunks of {args.chunk}; "
        f"{os.cpu_count()} CPUs; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}",
        flush=True,
    )
    result, busy, wall = streaming(sizes)
    print(
        f"streaming accumulator: {busy:8.1f}s {args.frames / busy:8.0f} frames/s "
        f"({wall:.1f}s with generation); peak RSS {peak_rss_gib():.2f} GiB",
        flush=True,
    )
    t_floor = floor(sizes)
    print(f"floor (dsyrk per chunk): {t_floor:8.1f}s  accumulator/floor = {busy / t_floor:.2f}x")
    if not args.no_dask:
        dask_run(sizes, result)


if __name__ == "__main__":
    main()
