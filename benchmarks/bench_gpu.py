"""Benchmark (GPU): streaming CKA accumulated on CUDA tensors, and extraction on CUDA vs CPU.

Run on a machine with a GPU: ``python benchmarks/bench_gpu.py``. A smoke run anywhere:
``python benchmarks/bench_gpu.py --device cpu --frames 20000 --check-frames 2000``.

Prints:

1. accumulation of 13 x 768 layers, ``--frames`` frames generated chunk by chunk ON the device
   (float32, a shared latent plus layer noise, as in ``bench_streaming.py``), by
   ``CKAAccumulator`` with ``precision="float64"`` and ``"float32-chunks"``: time (device
   synchronised, generation not timed), frames/second, peak device memory, and the largest
   difference between the two precisions (biased and debiased CKA);
2. exactness: the first ``--check-frames`` frames, copied to the host, through the numpy
   accumulator and the in-memory ``cka_matrix``: their largest difference from the device's
   float64 result;
3. extraction: a base-sized random Wav2Vec2 (layer-norm front end, 12 x 768) on a few
   recordings, on the device vs the CPU, in full float32 (``extract.ALLOW_TF32 = False``, the
   default) and with TF32 allowed: the largest difference of any hidden state.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from bench_streaming import chunk_sizes  # this script's folder is on sys.path

from tutorial_utils.cka import cka_matrix
from tutorial_utils.io import extract
from tutorial_utils.scale import CKAAccumulator, streaming_cka_matrix

N_LAYERS, DIM, LATENT = 13, 768, 64


class ChunkMaker:
    """Chunk ``k`` of 13 correlated float32 layers, made on ``device``; the same every call."""

    def __init__(self, torch, device: str, seed: int = 0) -> None:
        self.torch, self.device = torch, device
        generator = torch.Generator(device=device).manual_seed(seed)
        self.mixes = [
            torch.randn(LATENT, DIM, generator=generator, device=device) / 8
            for _ in range(N_LAYERS)
        ]

    def __call__(self, k: int, m: int) -> list:
        torch = self.torch
        generator = torch.Generator(device=self.device).manual_seed(1000 + k)
        latent = torch.randn(m, LATENT, generator=generator, device=self.device)
        noise = torch.randn(m, N_LAYERS * DIM, generator=generator, device=self.device)
        return [
            latent @ mix + noise[:, i * DIM : (i + 1) * DIM] + 2.0
            for i, mix in enumerate(self.mixes)
        ]


def synchronise(torch, device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def accumulate(make, sizes: list[int], precision: str) -> tuple[CKAAccumulator, float]:
    """The accumulator over all chunks and its busy time (updates + both results)."""
    torch, device = make.torch, make.device
    accumulator, busy = CKAAccumulator(precision=precision), 0.0
    for k, m in enumerate(sizes):
        chunk = make(k, m)
        synchronise(torch, device)
        start = time.perf_counter()
        accumulator.update(chunk)
        synchronise(torch, device)
        busy += time.perf_counter() - start
    start = time.perf_counter()
    accumulator.result()
    return accumulator, busy + time.perf_counter() - start


def accumulation(make, sizes: list[int]) -> dict:
    """Time both precisions; print their rates and their difference; return the results."""
    torch, device = make.torch, make.device
    results = {}
    for precision in ("float64", "float32-chunks"):
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        accumulator, busy = accumulate(make, sizes, precision)
        peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else 0.0
        results[precision] = (accumulator.result(), accumulator.result(debiased=True))
        print(
            f"accumulate on {device} {precision:14s}: {busy:7.2f} s {sum(sizes) / busy:10.0f} "
            f"frames/s  peak device memory {peak:.2f} GiB",
            flush=True,
        )
    for i, name in enumerate(("biased", "debiased")):
        error = np.abs(results["float32-chunks"][i] - results["float64"][i]).max()
        print(f"  float32-chunks vs float64 ({name}): max |difference| = {error:.1e}")
    return results


def exactness(make, sizes: list[int]) -> None:
    """Device float64 vs the numpy accumulator and the in-memory matrix on the same frames."""
    on_device = [make(k, m) for k, m in enumerate(sizes)]
    on_host = [[x.cpu().numpy() for x in chunk] for chunk in on_device]
    whole = [np.concatenate([chunk[i] for chunk in on_host]) for i in range(N_LAYERS)]
    for debiased in (False, True):
        device_cka = streaming_cka_matrix(on_device, debiased=debiased)
        numpy_cka = streaming_cka_matrix(on_host, debiased=debiased)
        memory_cka = cka_matrix(whole, debiased=debiased)
        print(
            f"exactness on {sum(sizes)} frames ({'debiased' if debiased else 'biased'}): "
            f"max |device - numpy accumulator| = {np.abs(device_cka - numpy_cka).max():.1e}, "
            f"max |device - in-memory cka_matrix| = {np.abs(device_cka - memory_cka).max():.1e}"
        )


def extraction_difference(torch, device: str, n_recordings: int) -> None:
    """Largest difference of the hidden states extracted on ``device`` vs on the CPU."""
    transformers = extract.require_torch()[1]
    torch.manual_seed(0)
    config = transformers.Wav2Vec2Config(feat_extract_norm="layer", do_stable_layer_norm=True)
    model = transformers.Wav2Vec2Model(config).eval()
    features = transformers.Wav2Vec2FeatureExtractor(do_normalize=True)
    rng = np.random.default_rng(0)
    recordings = [(f"r{i}", rng.standard_normal(int(rng.integers(32000, 64000))).astype(np.float32))
                  for i in range(n_recordings)]  # fmt: skip

    def run(where: str) -> dict:
        return extract.extract_hidden_states(
            recordings, model, features, device=where, progress=False
        )

    cpu = run("cpu")
    peak = max(float(np.abs(a).max()) for per_file in cpu.values() for a in per_file.values())
    for tf32 in (False, True):
        extract.ALLOW_TF32 = tf32
        other = run(device)
        error = max(float(np.abs(other[i][n] - cpu[i][n]).max()) for i in cpu for n in cpu[i])
        print(f"extraction {device} vs cpu, ALLOW_TF32={tf32}: max |difference| = {error:.1e} "
              f"(largest |hidden state| {peak:.1f})")  # fmt: skip
    extract.ALLOW_TF32 = False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu for a smoke run")
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=10_000, help="frames per chunk")
    parser.add_argument("--check-frames", type=int, default=20_000)
    parser.add_argument("--recordings", type=int, default=4, help="for the extraction check")
    args = parser.parse_args()
    torch = extract.require_torch()[0]
    device = extract.resolve_device(args.device)
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    print(f"torch {torch.__version__} on {device} ({name}); {N_LAYERS} layers x {DIM}, "
          f"{args.frames} frames in chunks of {args.chunk}", flush=True)  # fmt: skip
    make = ChunkMaker(torch, device)
    accumulate(make, chunk_sizes(2 * args.chunk, args.chunk), "float64")  # warm-up
    accumulation(make, chunk_sizes(args.frames, args.chunk))
    exactness(make, chunk_sizes(args.check_frames, args.chunk))
    if device.startswith("cuda"):
        extraction_difference(torch, device, args.recordings)


if __name__ == "__main__":
    main()
