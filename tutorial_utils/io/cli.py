"""Command line of the data tools: ``python -m tutorial_utils.io`` (also ``speech-cka-data``).

Prints one clear paragraph and exits with code 2 on bad input or a failed download; never a
traceback.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from . import cache
from .convert import run
from .devices import DEVICES, resolve_device
from .download import DownloadFailed
from .extract import DEFAULT_BATCH_SIZE, DEFAULT_MODEL


def describe_cache(data_dir: str | Path | None = None, verify: bool = False) -> str:
    """Human-readable summary of what is cached (used by ``--list``; ``--verify``: hash all)."""
    return cache_report(data_dir, verify)[0]


def cache_report(data_dir: str | Path | None = None, verify: bool = False) -> tuple[str, bool]:
    """``(summary, usable)``: :func:`describe_cache`'s text, and whether the cache loads."""
    data_dir = Path(data_dir) if data_dir is not None else cache.default_data_dir()
    manifest = cache.read_manifest(data_dir)
    if manifest is None and not (data_dir / cache.MANIFEST_NAME).exists():
        text = (
            f"No cache in {data_dir}. Run `{cache.DOWNLOAD_HINT}` to get the real data; the "
            "built-in synthetic sample needs no download."
        )
        return text, True
    manifest = manifest or {}
    problem = cache.cache_status(data_dir, verify_hashes=verify)
    checked = "every byte verified by sha256" if verify else "--verify also hashes the npz files"
    lines = [
        f"Cache: {data_dir}",
        f"  status: {f'complete ({checked})' if problem is None else 'UNUSABLE: ' + problem}",
        f"  source: {manifest.get('source')}, model: {manifest.get('model_name')}, "
        f"hidden states: {manifest.get('hidden_states', manifest.get('features'))}, "
        f"layers: {len(manifest.get('layers') or [])}",
    ]
    for section, prefix in (("files", ""), ("downloads", "original ")):
        records = manifest.get(section)
        for rel, record in sorted(records.items() if isinstance(records, dict) else []):
            size = record.get("size") if isinstance(record, dict) else None
            size_mb = f"{size / 1e6:10.2f} MB" if isinstance(size, int) else "   (no size)"
            lines.append(f"  {prefix}{rel:<28} {size_mb}")
    return "\n".join(lines), problem is None


SAMPLE_MESSAGE = (
    "The offline sample is built into the package, so there is nothing to download or write: "
    "in a notebook, `from tutorial_utils import load_dataset; ds = load_dataset('sample')` "
    "(load_dataset() alone also falls back to it when the real data are not cached). It is "
    "synthetic (made with VocalTractLab and a simulated encoder), so its numbers illustrate the "
    "methods but are not the tutorial's findings. Run `python -m tutorial_utils.io` for the "
    "real data."
)

_DESCRIPTION = textwrap.dedent(
    """\
    Get the real tutorial data and convert it into a safe, verified cache.

    By default the original files (audio and EMA of F02 and M02) are downloaded from
    the tutorial's public Google Drive folder with gdown, and the 13 Wav2Vec2 layers
    are re-extracted from the audio (needs torch + transformers). The cache holds csv
    and npz (or, with --store npy, .npy) files only (no pickles) plus manifest.json
    with the sha256 of every file; a second run verifies them and only redoes what is
    missing or corrupt.

    Cache directory: --data-dir, else $TUTORIAL_DATA_DIR, else the last one this
    command completed, else data/ in a source checkout, else
    ~/.cache/speech-cka-tutorial. Each completed run records its directory in
    ~/.config/speech-cka-tutorial/data_dir, where load_dataset() looks for it. In
    Colab, keep the cache on Drive (the disk is wiped between sessions):
    --data-dir /content/drive/MyDrive/speech-cka-tutorial-data.
    Also installed as the command `speech-cka-data`. Nothing to download? The
    notebooks also run on the built-in synthetic sample (see --sample)."""
)
_EPILOG = textwrap.dedent(
    """\
    examples:
      python -m tutorial_utils.io                         download, re-extract features
      python -m tutorial_utils.io --frame-states          use the original features
      python -m tutorial_utils.io --from-dir ~/InterspeechTutorial/ema_probing_data
      python -m tutorial_utils.io --model microsoft/wavlm-base
      python -m tutorial_utils.io --device cuda --batch-size 16   on a GPU (e.g. Colab)
      python -m tutorial_utils.io --store npy             one lazily read file per recording
      python -m tutorial_utils.io --list"""
)


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``python -m tutorial_utils.io``."""
    parser = argparse.ArgumentParser(
        prog="python -m tutorial_utils.io",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    _add_source_options(parser)
    parser.add_argument(
        "--sample",
        action="store_true",
        help="write nothing; explain how to use the built-in offline sample instead",
    )
    _add_extraction_options(parser)  # hook (extract branch)
    parser.add_argument("--list", action="store_true", help="show what is cached and exit")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="with --list: also recompute the sha256 of every cached file and read it",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    return parser


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    """Where the cache and the originals are, and what to convert."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="PATH",
        help="cache directory (default: $TUTORIAL_DATA_DIR or data/ in the repository)",
    )
    parser.add_argument(
        "--from-dir",
        type=Path,
        default=None,
        metavar="PATH",
        help="convert the original files found in PATH (e.g. a mounted Drive shortcut); "
        "no network access",
    )
    parser.add_argument(
        "--frame-states",
        action="store_true",
        help="convert the original frame_states_p1/p2_test.pkl (large downloads; F02 and M02 "
        "test sentences only) instead of re-extracting the features; needs no torch",
    )
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        metavar="NAME",
        help="Hugging Face speech model to re-extract hidden states with "
        f"(default: {DEFAULT_MODEL}; e.g. facebook/hubert-base-ls960, microsoft/wavlm-base)",
    )
    parser.add_argument(
        "--participants",
        nargs="+",
        default=None,
        metavar="P",
        help="participants to get (default: F02 and M02, when present)",
    )


def _add_extraction_options(parser: argparse.ArgumentParser) -> None:
    """Hook (extract branch): device, batching and the npy store, passed through to run()."""
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where to re-extract: auto = CUDA when torch sees a GPU, else cpu",
    )
    parser.add_argument(
        "--batch-size",
        type=_batch_size,
        default=None,
        metavar="N",
        help="recordings per forward pass for layer-norm models (wav2vec2-base "
        f"always runs one at a time; default {DEFAULT_BATCH_SIZE} on a GPU, 1 on the CPU, "
        "where batches were slower)",
    )
    parser.add_argument(
        "--store",
        choices=("npz", "npy"),
        default="npz",
        help="hidden states as one npz per participant (default) or one .npy "
        "per recording, read lazily (corpora larger than memory)",
    )


def _batch_size(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the data command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.sample:
        print(SAMPLE_MESSAGE)
        return 0
    if args.list:
        text, usable = cache_report(args.data_dir, verify=args.verify)
        print(text)
        return 0 if usable else 1
    refusal = _refusal_before_run(args)
    if refusal:
        print(textwrap.fill(refusal, width=100), file=sys.stderr)
        return 2
    try:
        data_dir = run(
            args.data_dir,
            from_dir=args.from_dir,
            frame_states=args.frame_states,
            model_name=args.model,
            participants=args.participants,
            quiet=args.quiet,
            device=args.device,
            batch_size=args.batch_size,
            store=args.store,
        )
    except DownloadFailed as err:
        print(textwrap.fill(f"{cache.DOWNLOAD_HINT}: {err}", width=100), file=sys.stderr)
        return 2
    except (ValueError, OSError, ImportError) as err:
        message = f"{cache.DOWNLOAD_HINT}: {type(err).__name__}: {err}"
        print(textwrap.fill(message, width=100), file=sys.stderr)
        return 1
    _remember(data_dir, args.quiet)
    return 0


def _refusal_before_run(args: argparse.Namespace) -> str | None:
    """Why the run cannot start (before any download), or None."""
    if not args.frame_states and args.device != "auto":  # hook (extract)
        try:
            resolve_device(args.device)
        except (ValueError, ImportError) as err:
            return str(err)
    default, origin = cache.find_data_dir()
    if args.data_dir is None and origin == "pointer" and not default.is_dir():
        return (
            f"{cache.DOWNLOAD_HINT}: the cache directory recorded in {cache.pointer_file()}, "
            f"{default}, does not exist (in Colab: is Google Drive mounted?). Mount it, or "
            "choose a directory with --data-dir PATH."
        )
    return None


def _remember(data_dir: Path, quiet: bool) -> None:
    """Record the finished cache so that load_dataset() finds it in later sessions."""
    try:
        pointer = cache.remember_data_dir(data_dir)
    except OSError as err:
        print(f"Could not record the cache location ({err}); pass data_dir= to load_dataset().")
        return
    if not quiet:
        print(f"load_dataset() now finds this cache (its location is recorded in {pointer}).")


if __name__ == "__main__":
    sys.exit(main())
