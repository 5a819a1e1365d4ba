"""Benchmark: how long the built-in sample takes to load.

Run: ``python benchmarks/bench_sample.py``. Prints, in one fresh process, the time to import
the package, the first ``load_dataset("sample")`` (reads the committed files and simulates
the encoder), a second call (cached in the process), and a rebuild with the cache cleared.
"""

from __future__ import annotations

import time


def main() -> None:
    start = time.perf_counter()
    from tutorial_utils import load_dataset, sample

    imported = time.perf_counter()
    dataset = load_dataset("sample")
    first = time.perf_counter()
    load_dataset("sample")
    second = time.perf_counter()
    sample._build.cache_clear()
    load_dataset("sample")
    rebuilt = time.perf_counter()

    frames = sum(
        arr.nbytes
        for p in dataset.participants
        for per_file in dataset.hidden_states(p).values()
        for arr in per_file.values()
    )
    print(f"import tutorial_utils:        {imported - start:6.2f} s")
    print(f"first load_dataset('sample'): {first - imported:6.2f} s")
    print(f"second call (cached):         {second - first:6.2f} s")
    print(f"rebuild, cache cleared:       {rebuilt - second:6.2f} s")
    print(f"simulated hidden states: {frames / 1e6:.1f} MB float32")


if __name__ == "__main__":
    main()
