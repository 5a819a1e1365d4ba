"""Get the tutorial's real data (audio, EMA and hidden states of F02 and M02) into a verified
cache of csv and npz files, from its Google Drive folder or --from-dir (see the README).
Without it the notebooks run on the built-in synthetic sample: load_dataset('sample').

Pooch fetches missing originals (gdown 5.2 or 6); filelock serialises conversions. Bad input or a
failed download: one paragraph and exit code 2, never a traceback; Ctrl-C: one line, 130."""

import argparse
import contextlib
import errno
import functools
import json
import os
import re
import sys
import textwrap
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import gdown
import platformdirs
import pooch
from filelock import FileLock, Timeout

from . import cache, extract, originals

DRIVE_FOLDER_ID = "1IYSwALkhkPtdMXmZL7dnTLYP_FMnFn9U"
DRIVE_SUBFOLDER = "ema_probing_data"
BY_HAND = (f"download the folder '{DRIVE_SUBFOLDER}' by hand from https://drive.google.com/drive/"
           f"folders/{DRIVE_FOLDER_ID} and use --from-dir PATH")  # fmt: skip
KNOWN_SHA256: dict[str, str] = {}  # name -> sha256 (add those of ema_probing_data/* once seen)
PARTICIPANTS = ("F02", "M02")
PARTICIPANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
FRAME_STATES_FILES = {"F02": "frame_states_p1_test.pkl", "M02": "frame_states_p2_test.pkl"}
LOCK_WAIT_S = 10.0  # how long a second conversion of the same folder waits for the first


class DownloadFailed(Exception):
    """Getting the data failed; the message is meant for the user as is."""


def fetch(names: Iterable[str], downloads: Path, quiet: bool = False) -> dict[str, Path]:
    """``{name: path}`` of the originals in ``downloads``, fetching those missing or unlike their
    :data:`KNOWN_SHA256` (the Drive folder is listed only then)."""
    listing: dict[str, str] = {}  # {name: file id} in the Drive folder's ema_probing_data/

    def download(name: str, output: str, _: object) -> None:
        try:  # gdown 5.2 and 6 raise different errors (and requests, OSError)
            if not listing:  # (gdown writes nothing when skipping downloads)
                entries = gdown.download_folder(id=DRIVE_FOLDER_ID, quiet=True,
                                                skip_download=True, use_cookies=False)  # fmt: skip
                if entries is None:  # gdown 5.2 prints the error and returns None
                    raise RuntimeError("gdown returned no listing")
                named = ((Path(str(entry.path)), entry.id) for entry in entries)
                listing.update((p.name, i) for p, i in named if p.parent.name == DRIVE_SUBFOLDER)
            if name in listing:
                if not quiet:
                    print(f"Downloading {name} ...", file=sys.stderr)
                gdown.download(id=listing[name], output=output, quiet=quiet)
        except Exception as err:
            raise DownloadFailed(f"Could not get {name} from the tutorial's Drive folder "
                                 f"({type(err).__name__}: {err}). Offline, or Drive refusing "
                                 "automated downloads for a while (quota)? The notebooks run on "
                                 "the built-in sample (load_dataset('sample')); for the real data "
                                 f"retry later, or {BY_HAND}.") from err  # fmt: skip
        if name not in listing:
            raise DownloadFailed(f"The Drive folder has no {name} in '{DRIVE_SUBFOLDER}/' (it has "
                                 f"{', '.join(sorted(listing)) or 'nothing'}). Choose "
                                 f"--participants, or {BY_HAND}.")  # fmt: skip

    pooch.get_logger().setLevel("WARNING")
    for name in names:
        try:
            pooch.retrieve(name, KNOWN_SHA256.get(name), name, downloads, downloader=download)
        except ValueError as err:  # pooch: not the pinned sha256 (the download is not kept)
            raise DownloadFailed(f"{name} from Google Drive is not the tutorial's file ({err}). "
                                 f"Retry later, or {BY_HAND}.") from err  # fmt: skip
    return {n: downloads / n for n in names}


def _tables(args, wanted, paths) -> Iterator[tuple[str, tuple]]:
    """``(participant, (recordings, ema, states))``, read and checked one at a time."""
    load_model = functools.cache(extract.load_model)  # loaded for the first participant only
    for p in wanted:
        if not args.quiet:
            print(f"Converting {p} ...", file=sys.stderr)
        try:
            recordings = originals.read_recordings(paths[f"ema_audio_{p}.pkl"])
            lengths = dict(zip(recordings.FILENAME, map(len, recordings.AUDIO), strict=True))
            ema = originals.read_labels(paths[f"ema_labels_{p}.csv"], lengths)
            if args.frame_states:
                states = originals.read_frame_states(paths[FRAME_STATES_FILES[p]], lengths)
        except originals.BadOriginal as err:
            todo = "Replace it with a good copy and run the command again"
            if not args.from_dir:
                err.path.unlink(missing_ok=True)
                todo = "The download was deleted: run the command again"
            raise DownloadFailed(f"{err} {todo}; if it fails the same way, {BY_HAND}.") from err
        if not args.frame_states:
            extractor, model = load_model(args.model)
            pairs = zip(recordings.FILENAME, recordings.AUDIO, strict=True)
            found = extract.extract_hidden_states(pairs, model, extractor, device=args.device,
                                                  progress=not args.quiet)  # fmt: skip
            states = originals.check_states(found, lengths)
        yield p, (recordings, ema, states)


def convert(data_dir: Path, args: argparse.Namespace) -> None:
    """Get the originals and convert them into the cache in ``data_dir`` (see ``--help``)."""
    m = _json(data_dir / cache.MANIFEST)  # an OSError: none, or unreadable now (read_manifest)
    ours = isinstance(m, OSError) or isinstance(m, dict) and {"format_version", "files"} <= m.keys()
    if not ours and not any(data_dir.glob("cache-*")):  # (torn beside cache-*: ours)
        raise DownloadFailed(f"{data_dir} holds a {cache.MANIFEST} that is not this tutorial's: "
                             "nothing was written. Choose another --data-dir (a new "
                             "folder).")  # fmt: skip
    d, copies = args.from_dir, {}  # {name: [paths]} of the originals in --from-dir or below
    for folder, _, files in os.walk(d) if d else ():  # (unreadable folders skipped, as in /proc)
        for name in files:
            if name.startswith(("ema_", "frame_states_")):
                copies.setdefault(name, []).append(Path(folder, name))
    found = [p for p in PARTICIPANTS if f"ema_audio_{p}.pkl" in copies]
    wanted = args.participants or found or list(PARTICIPANTS)  # without --participants: found
    if bad := [p for p in wanted if not PARTICIPANT.fullmatch(p)]:
        raise ValueError(f"--participants: {bad[0]!r} is not a participant id such as F02.")
    if args.frame_states and (other := sorted(set(wanted) - set(FRAME_STATES_FILES))):
        raise ValueError(f"--frame-states: only F02 and M02 have original features, not {other}.")
    names = [n for p in wanted for n in (f"ema_audio_{p}.pkl", f"ema_labels_{p}.csv")]
    names += [FRAME_STATES_FILES[p] for p in wanted if args.frame_states]
    if d and (missing := [name for name in names if name not in copies]):
        raise DownloadFailed(f"Could not find {', '.join(missing)} in --from-dir {d} or below.")
    if d and (twice := next((sorted(copies[n]) for n in names if len(copies[n]) > 1), None)):
        raise DownloadFailed(f"--from-dir {d} holds {len(twice)} copies of {twice[0].name}, in "
                             f"{twice[0].parent} and {twice[1].parent}: keep one, or name its "
                             "folder in --from-dir.")  # fmt: skip
    local = {n: copies[n][0] for n in names if d}
    if not args.frame_states:  # after the folder, before any download: torch and the GPU
        extract.resolve_device(args.device)
    sources = {n: pooch.file_hash(str(path)) for n, path in local.items()}
    for name, sha in sources.items():  # (pooch checks the pinned hashes of downloads)
        if (pinned := KNOWN_SHA256.get(name, sha)) != sha:
            raise originals.BadOriginal(local[name], f"its sha256 is {sha}, not {pinned}.")
    hidden = "frame_states" if args.frame_states else f"extracted:{args.model}"
    try:
        manifest = cache.read_manifest(data_dir)
        kind = manifest.get("hidden_states")  # participants of the same kind not converted are kept
        same = set(wanted) <= set(manifest["participants"]) and kind == hidden
        if same and sources in ({}, manifest.get("sources")) and cache.verify(data_dir):
            return print(f"The cache in {data_dir} is verified: nothing to do.", file=sys.stderr)
        if kind != hidden and (other := [p for p in manifest["participants"] if p not in wanted]):
            raise ValueError(f"{data_dir} also holds {', '.join(other)} ({kind}), which a {hidden} "
                             "run would drop: add their originals to --from-dir, or choose "
                             "another --data-dir.")  # fmt: skip
    except cache.CacheUnusable:
        pass
    cache.check_inside(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(data_dir / ".lock", timeout=LOCK_WAIT_S):
        paths = local or fetch(names, data_dir / "downloads", args.quiet)
        sources = sources or {n: pooch.file_hash(str(path)) for n, path in paths.items()}
        description = ("Tutorial data: read IEEE sentences from the Haskins Production Rate "
                       "Comparison database (Tiede et al. 2017), audio at 16 kHz, EMA at 50 Hz, "
                       + ("the original tutorial's frame states." if args.frame_states
                          else f"hidden states re-extracted with {args.model}."))  # fmt: skip
        cache.write_cache(data_dir, _tables(args, wanted, paths), hidden_states=hidden,
                          sources=sources, model_name=args.model, description=description,
                          origin="local folder" if local else "google drive")  # fmt: skip


def _json(path: Path) -> object:  # the content, else the error
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as err:
        return err


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the data command line; returns the exit code."""
    prog = "speech-cka-data" if Path(sys.argv[0]).stem == "speech-cka-data" else cache.COMMAND
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    with warnings.catch_warnings(record=True) as caught:  # one plain line each, no source line
        warnings.simplefilter("always")
        found = cache.find_data_dir()
    for warning in caught:
        print(f"{prog}: {warning.message}", file=sys.stderr)
    where = (f"{found[0]}, the first of $TUTORIAL_DATA_DIR, the folder the last run recorded in "
             f"{cache.pointer_file()}, data/ in a source checkout and "
             f"{platformdirs.user_cache_path(cache.APP)}")  # fmt: skip
    where = where.replace(f"{Path.home()}/", "~/")
    add = parser.add_argument
    add("--data-dir", metavar="PATH", help=f"cache folder (default: {where})".replace("%", "%%"))
    add("--from-dir", metavar="PATH", help="convert the originals in PATH (offline)")
    add("--frame-states", action="store_true", help="convert the original features (no torch)")
    add("--model", default=extract.DEFAULT_MODEL, metavar="NAME", help="model to re-extract with")
    add("--participants", nargs="+", metavar="P", help="default: F02 and M02")
    add("--device", choices=extract.DEVICES, default="auto", help="where to re-extract")
    add("--list", action="store_true", help="verify every cached file's sha256 and list them")
    add("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    data_dir, origin = (Path(args.data_dir), "argument") if args.data_dir else found
    args.from_dir, before = args.from_dir and Path(args.from_dir), _json(data_dir / cache.MANIFEST)
    try:
        env = os.environ.get("TUTORIAL_DATA_DIR") if args.data_dir is None else None
        if any(v is not None and not str(v).strip() for v in (args.data_dir, args.from_dir, env)):
            raise ValueError("--data-dir, --from-dir and $TUTORIAL_DATA_DIR take a folder, not '' "
                             "(the current one) or spaces.")  # fmt: skip
        if data_dir.is_file():
            raise ValueError(f"--data-dir {data_dir} is a file, not a folder: choose a folder.")
        if origin == "pointer" and not data_dir.is_dir():
            raise ValueError(f"The cache directory recorded in {cache.pointer_file()}, {data_dir}, "
                             "does not exist (in Colab: is Google Drive mounted?). Mount it, or "
                             "choose --data-dir PATH.")  # fmt: skip
        if args.list:
            manifest = cache.verify(data_dir)
            print(f"{data_dir}: every file's sha256 verified; {manifest.get('hidden_states')}")
            for rel in sorted(manifest["files"]):
                print(f"  {rel.partition('/')[2]:<28} {(data_dir / rel).stat().st_size:>12,} B")
            return 0
        convert(data_dir, args)
        with contextlib.suppress(OSError):  # else load_dataset(data_dir=...) finds it
            cache.remember_data_dir(data_dir)
        if not args.quiet:
            print(f"Done: load_dataset() finds the cache in {data_dir}.")
        return 0
    except Timeout:  # (an OSError)
        message = f"Another conversion is writing the cache in {data_dir}; wait for it to finish."
    except (DownloadFailed, ValueError, ImportError, cache.CacheUnusable) as err:
        message = f"{parser.prog}: {err}"
    except OSError as err:
        writable = err.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
        fix = "Make the folder writable" if writable else "Free some disk space"
        message = (f"Writing to {data_dir} failed ({err.strerror or err}). The previous cache is "
                   f"unchanged. {fix} (or choose another --data-dir) and retry.")  # fmt: skip
    except KeyboardInterrupt:  # (a conversion under way is discarded: write_cache)
        done = isinstance(now := _json(data_dir / cache.MANIFEST), dict) and now != before
        what = "new cache in {} is complete and in place" if done else "cache in {} is unchanged"
        print(f"{parser.prog}: interrupted; the {what.format(data_dir)}.", file=sys.stderr)
        return 130
    print(textwrap.fill(" ".join(message.split()), 100, break_on_hyphens=False), file=sys.stderr)
    return 2
