"""Benchmark: hidden-state extraction, batched vs one recording at a time.

Run: ``python benchmarks/bench_extract.py`` (``--quick`` for a smaller smoke run,
``--device cuda`` on a GPU). Needs the ``extract`` extra (torch + transformers); nothing is
downloaded: the models are base-sized (12 layers x 768) and randomly initialised from
``Wav2Vec2Config()``.

Two front ends are timed on the same synthetic recordings (2-4 s of noise at 16 kHz):

- ``layer``: ``Wav2Vec2Config()`` with ``feat_extract_norm="layer"`` and
  ``do_stable_layer_norm=True`` (the wav2vec2-large-lv60 front end). ``extract`` batches these
  with an attention mask: one at a time vs ``--batch-size``, and the largest difference
  between the two results (frames of the same recording must agree);
- ``group``: ``Wav2Vec2Config()`` as is (the wav2vec2-base front end). ``extract`` runs these
  one at a time; a padded batch is timed too (``padded, not used``) to show the speed that
  the exactness costs, with its difference from the exact frames.

Printed: frames/second (50 frames per second of audio), seconds of audio per second, and the
ratio batched / one at a time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tutorial_utils.frames import SAMPLE_RATE, n_model_frames
from tutorial_utils.io import extract


def make_recordings(n: int, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """``n`` recordings of 2-4 s of float32 noise."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2 * SAMPLE_RATE, 4 * SAMPLE_RATE, n)
    return [
        (f"rec{i:02d}", rng.standard_normal(k).astype(np.float32)) for i, k in enumerate(lengths)
    ]


def make_model(front_end: str, layers: int) -> tuple[object, object]:
    """A random base-sized Wav2Vec2 (``layers`` transformer layers) and its feature extractor."""
    torch, transformers = extract.require_torch()
    torch.manual_seed(0)
    options = {"feat_extract_norm": "layer", "do_stable_layer_norm": True}
    config = transformers.Wav2Vec2Config(
        num_hidden_layers=layers, **(options if front_end == "layer" else {})
    )
    feature_extractor = transformers.Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=SAMPLE_RATE, padding_value=0.0, do_normalize=True
    )
    return feature_extractor, transformers.Wav2Vec2Model(config).eval()


def timed(function) -> tuple[float, object]:
    """``(seconds, result)`` of one call."""
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def max_difference(a: dict, b: dict) -> float:
    """Largest absolute difference between two ``{layer: {filename: (T, d)}}`` results."""
    return max(
        float(np.abs(a[layer][name] - b[layer][name]).max()) for layer in a for name in a[layer]
    )


def padded_batches(recordings, model, feature_extractor, batch_size: int) -> dict:
    """What batching a group-norm model would give (zero padding + mask; NOT what extract does)."""
    values = [extract._input_values(audio, feature_extractor) for _, audio in recordings]
    states: dict = {}
    for batch in extract.length_batches([v.size for v in values], batch_size):
        for i, layers in zip(
            batch, extract._forward(model, [values[i] for i in batch]), strict=True
        ):
            for layer, array in enumerate(layers):
                states.setdefault(layer, {})[recordings[i][0]] = array
    return states


def run_front_end(front_end: str, recordings, args) -> dict[str, float]:
    """Times (seconds) and result differences of one front end."""
    feature_extractor, model = make_model(front_end, args.layers)
    model.to(extract.resolve_device(args.device))
    extract.hidden_states(recordings[0][1][:SAMPLE_RATE], model, feature_extractor)  # warm-up

    def run(batch_size: int) -> dict:
        return extract.extract_hidden_states(
            recordings, model, feature_extractor, device=args.device, batch_size=batch_size,
            progress=False,
        )  # fmt: skip

    single_s, single = timed(lambda: run(1))
    if front_end == "layer":
        batched_s, batched = timed(lambda: run(args.batch_size))
    else:
        batched_s, batched = timed(
            lambda: padded_batches(recordings, model, feature_extractor, args.batch_size)
        )
    return {"single": single_s, "batched": batched_s, "diff": max_difference(single, batched)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 layers, 4 recordings")
    parser.add_argument("--device", default="cpu", help="auto, cpu or cuda (default cpu)")
    parser.add_argument("--recordings", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--allow-tf32", action="store_true", help="extract.ALLOW_TF32 = True")
    args = parser.parse_args()
    extract.ALLOW_TF32 = args.allow_tf32
    if args.quick:
        args.recordings, args.layers = 4, 2
    torch, transformers = extract.require_torch()
    recordings = make_recordings(args.recordings)
    frames = sum(n_model_frames(audio.size) for _, audio in recordings)
    seconds = sum(audio.size for _, audio in recordings) / SAMPLE_RATE
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, device "
        f"{extract.resolve_device(args.device)}, {torch.get_num_threads()} threads; "
        f"{args.recordings} recordings, {seconds:.1f} s of audio, {frames} frames; "
        f"{args.layers} layers x 768, batch size {args.batch_size}, "
        f"ALLOW_TF32={extract.ALLOW_TF32}"
    )
    for front_end, label in (("layer", "batched"), ("group", "padded, not used")):
        result = run_front_end(front_end, recordings, args)
        for name, key in (("one at a time", "single"), (label, "batched")):
            rate = frames / result[key]
            print(
                f"  {front_end:<5} {name:<17} {result[key]:7.2f} s  {rate:8.0f} frames/s  "
                f"{seconds / result[key]:6.1f} s audio/s"
            )
        ratio = result["single"] / result["batched"]
        print(f"  {front_end:<5} ratio {label} / one at a time (speed-up): {ratio:.2f}x; "
              f"max |difference| of the frames: {result['diff']:.2e}")  # fmt: skip


if __name__ == "__main__":
    main()
