"""``python -m tutorial_utils.io`` (also ``speech-cka-data``): get the real data into the cache.

Bad input or a failed download gives one paragraph and exit code 2, never a traceback.
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

DESCRIPTION = """\
Download the tutorial's originals (audio and EMA of F02 and M02) from its Google Drive folder,
re-extract the 13 Wav2Vec2 layers (needs torch + transformers) and keep them in a verified
cache of csv and npz files (no pickles). The cache goes to --data-dir, else $TUTORIAL_DATA_DIR,
else the last one this command completed, else data/ in a source checkout, else the user cache
folder; in Colab keep it on Drive (--data-dir /content/drive/MyDrive/speech-cka-tutorial-data).
Without any download the notebooks run on the built-in synthetic sample (--sample)."""


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``python -m tutorial_utils.io``."""
    parser = argparse.ArgumentParser(prog="python -m tutorial_utils.io", description=DESCRIPTION)
    add = parser.add_argument
    add("--data-dir", type=Path, metavar="PATH", help="cache directory (see above)")
    add("--from-dir", type=Path, metavar="PATH", help="convert the originals in PATH (offline)")
    add("--frame-states", action="store_true", help="convert the original frame_states_p*_test"
        ".pkl (F02 and M02 test sentences) instead of re-extracting; needs no torch")  # fmt: skip
    add("--model", default=DEFAULT_MODEL, metavar="NAME", help="Hugging Face model to re-extract "
        f"with (default {DEFAULT_MODEL})")  # fmt: skip
    add("--participants", nargs="+", metavar="P", help="default: F02 and M02")
    add("--device", choices=DEVICES, default="auto", help="where to re-extract")
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
    m = tables["manifest"]
    checked = "every byte verified by sha256" if verify else "--verify also hashes the npz files"
    lines = [f"Cache: {data_dir}", f"  status: complete ({checked})",
             f"  {m.get('model_name')}, hidden states: {m.get('hidden_states')}"]  # fmt: skip
    for rel, record in sorted(m["files"].items()):
        lines.append(f"  {rel.partition('/')[2]:<28} {record['size'] / 1e6:10.2f} MB")
    return "\n".join(lines), True


def _fail(message: str) -> int:
    print(textwrap.fill(" ".join(message.split()), width=100), file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the data command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.sample:
        print("The synthetic sample is built in: load_dataset('sample') in a notebook (also what "
              "load_dataset() falls back to). Its numbers illustrate the methods, not the real "
              "findings; run `python -m tutorial_utils.io` for the real data.")  # fmt: skip
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
            warnings.showwarning = lambda message, *_: print(f"warning: {message}", file=sys.stderr)
            data_dir = run(args.data_dir, from_dir=args.from_dir, model_name=args.model, **options)
    except (DownloadFailed, ValueError, OSError, ImportError) as err:
        return _fail(f"{cache.DOWNLOAD_HINT}: {err}")
    try:
        pointer = cache.remember_data_dir(data_dir)
    except OSError as err:  # the cache is fine; load_dataset(data_dir=...) finds it
        pointer = f"nowhere: {err}"
    if not args.quiet:
        print(f"load_dataset() now finds this cache (its location is recorded in {pointer}).")
    return 0
