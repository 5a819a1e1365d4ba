"""``python -m tutorial_utils.io`` (also ``speech-cka-data``): get the real data into the cache.

Bad input or a failed download gives one paragraph on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import warnings
from collections.abc import Sequence
from pathlib import Path

from . import cache, validate
from .convert import run
from .download import DownloadFailed
from .extract import DEFAULT_MODEL, DEVICES

SAMPLE_MESSAGE = (
    "The offline sample is built into the package, so there is nothing to download or write: "
    "in a notebook, `from tutorial_utils import load_dataset; ds = load_dataset('sample')` "
    "(load_dataset() alone also falls back to it when the real data are not cached). It is "
    "synthetic (made with VocalTractLab and a simulated encoder), so its numbers illustrate the "
    "methods but are not the tutorial's findings. Run `python -m tutorial_utils.io` for the "
    "real data."
)
DESCRIPTION = """\
Get the real tutorial data and convert it into a safe, verified cache.

By default the original files (audio and EMA of F02 and M02) are downloaded from the
tutorial's public Google Drive folder, and the 13 Wav2Vec2 layers are re-extracted from the
audio (needs torch + transformers). The cache holds csv and npz files only (no pickles) and
manifest.json with the sha256 of every file; a second run on a complete cache does nothing.

Cache directory: --data-dir, else $TUTORIAL_DATA_DIR, else the last one this command
completed (recorded in your config folder, where load_dataset() looks for it), else data/ in
a source checkout, else your user cache folder. In Colab keep it on Drive:
--data-dir /content/drive/MyDrive/speech-cka-tutorial-data."""
EPILOG = """\
examples:
  python -m tutorial_utils.io                         download, re-extract features
  python -m tutorial_utils.io --frame-states          use the original features
  python -m tutorial_utils.io --from-dir ~/InterspeechTutorial/ema_probing_data
  python -m tutorial_utils.io --model microsoft/wavlm-base --device cuda
  python -m tutorial_utils.io --list"""


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``python -m tutorial_utils.io``."""
    parser = argparse.ArgumentParser(
        prog="python -m tutorial_utils.io", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    add = parser.add_argument
    add("--data-dir", type=Path, metavar="PATH", help="cache directory (see above)")
    add("--from-dir", type=Path, metavar="PATH", help="convert the originals in PATH, offline")
    add("--frame-states", action="store_true", help="convert the original frame_states_p*_test"
        ".pkl (F02 and M02 test sentences) instead of re-extracting; needs no torch")  # fmt: skip
    add("--model", default=DEFAULT_MODEL, metavar="NAME", help="Hugging Face speech model to "
        f"re-extract with (default {DEFAULT_MODEL})")  # fmt: skip
    add("--participants", nargs="+", metavar="P", help="default: F02 and M02")
    add("--device", choices=DEVICES, default="auto", help="where to re-extract (auto: a GPU "
        "when torch sees one)")  # fmt: skip
    add("--sample", action="store_true", help="explain the built-in offline sample and exit")
    add("--list", action="store_true", help="show what is cached and exit")
    add("--verify", action="store_true", help="with --list: hash and read every cached file")
    add("--quiet", action="store_true", help="no progress output")
    return parser


def describe_cache(data_dir: Path | None = None, verify: bool = False) -> tuple[str, bool]:
    """``(summary, usable)`` of the cache in ``data_dir`` (``--list``)."""
    data_dir = Path(data_dir) if data_dir is not None else cache.default_data_dir()
    if not (data_dir / cache.MANIFEST_NAME).exists():
        return f"No cache in {data_dir}. Run `{cache.DOWNLOAD_HINT}` to get the real data.", True
    try:
        tables = cache.read_cache(data_dir, verify_hashes=verify)
        for load in tables["hidden_states"].values() if verify else []:
            load()
    except cache.CacheUnusable as err:
        return f"Cache: {data_dir}\n  status: UNUSABLE: {err}", False
    manifest = tables["manifest"]
    checked = "every byte verified by sha256" if verify else "--verify also hashes the npz files"
    lines = [
        f"Cache: {data_dir}",
        f"  status: complete ({checked})",
        f"  source: {manifest.get('source')}, model: {manifest.get('model_name')}, "
        f"hidden states: {manifest.get('hidden_states')}, layers: {len(manifest['layers'])}",
    ]
    for rel, record in sorted(manifest["files"].items()):
        lines.append(f"  {rel.partition('/')[2]:<28} {record['size'] / 1e6:10.2f} MB")
    return "\n".join(lines), True


def _fail(message: str) -> int:
    print(textwrap.fill(" ".join(message.split()), width=100), file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the data command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.sample:
        print(SAMPLE_MESSAGE)
        return 0
    if args.list:
        text, usable = describe_cache(args.data_dir, verify=args.verify)
        print(text)
        return 0 if usable else 1
    default, origin = cache.find_data_dir()
    if args.data_dir is None and origin == "pointer" and not default.is_dir():
        return _fail(
            f"The cache directory recorded in {cache.pointer_file()}, {default}, does not exist "
            "(in Colab: is Google Drive mounted?). Mount it, or choose one with --data-dir PATH."
        )
    options = {k: getattr(args, k) for k in ("frame_states", "participants", "quiet", "device")}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", validate.DataWarning)
            warnings.showwarning = lambda message, *_, **__: print(
                f"warning: {message}", file=sys.stderr
            )
            data_dir = run(args.data_dir, from_dir=args.from_dir, model_name=args.model, **options)
    except (DownloadFailed, ValueError, OSError, ImportError) as err:
        return _fail(f"{cache.DOWNLOAD_HINT}: {err}")
    try:
        pointer = cache.remember_data_dir(data_dir)
    except OSError as err:
        print(f"Could not record the cache location ({err}); pass data_dir= to load_dataset().")
        return 0
    if not args.quiet:
        print(f"load_dataset() now finds this cache (its location is recorded in {pointer}).")
    return 0
