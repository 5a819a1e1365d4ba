"""Download the tutorial's real data and convert it into the safe cache (the CLI logic).

Run ``python data_download.py --help`` (or ``python -m tutorial_utils.download --help``).

Steps: (1) get the original files, either from the tutorial's public Google Drive folder with
gdown (listed with ``skip_download=True``, then fetched one by one with ``resume=True`` into
``<data-dir>/downloads/``) or from a local folder (``--from-dir``); (2) convert each participant:
``ema_audio_<P>.pkl`` → ``recordings.csv`` + ``audio.npz``, ``ema_labels_<P>.csv`` →
``ema.csv``, and the hidden states → ``features.npz``, either re-extracted from the audio with
:mod:`tutorial_utils.extract` (default) or converted from the original
``frame_states_p*_test.pkl`` files (``--frame-states``); (3) record the sha256 and size of every
downloaded and cache file in ``manifest.json``.

A second run verifies everything by sha256 and only redoes what is missing or corrupt. Pickles
are read through :mod:`tutorial_utils.safe_pickle` (allow-list, no torch needed).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import tempfile
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import data
from .extract import DEFAULT_MODEL
from .features import EMA_TABLE_COLUMNS, FRAME_RATE_HZ, SAMPLE_RATE, n_model_frames
from .safe_pickle import load_dataframe, safe_load

DRIVE_FOLDER_ID = "1IYSwALkhkPtdMXmZL7dnTLYP_FMnFn9U"
DRIVE_SUBFOLDER = "ema_probing_data"
PARTICIPANTS = ("F02", "M02")
FRAME_STATES_FILES = {"F02": "frame_states_p1_test.pkl", "M02": "frame_states_p2_test.pkl"}
DOWNLOADS_DIR = "downloads"
DESCRIPTION = (
    "Tutorial data: read IEEE sentences from the Haskins Production Rate Comparison database "
    "(Tiede et al. 2017), audio at 16 kHz, EMA at 50 Hz, {features}."
)


class DownloadFailed(Exception):
    """Getting or converting the data failed; the message is meant for the user as is."""


# --------------------------------------------------------------------------------------------
# Which files
# --------------------------------------------------------------------------------------------


def audio_name(participant: str) -> str:
    """Original recordings pickle of a participant."""
    return f"ema_audio_{participant}.pkl"


def labels_name(participant: str) -> str:
    """Original EMA csv of a participant."""
    return f"ema_labels_{participant}.csv"


def source_names(participant: str, frame_states: bool) -> list[str]:
    """Original files needed to convert one participant."""
    names = [audio_name(participant), labels_name(participant)]
    if frame_states:
        if participant not in FRAME_STATES_FILES:
            raise DownloadFailed(
                f"There is no original frame-states file for {participant}; the tutorial has "
                f"them for {', '.join(FRAME_STATES_FILES)} only. Drop --frame-states to "
                "re-extract the features."
            )
        names.append(FRAME_STATES_FILES[participant])
    return names


# --------------------------------------------------------------------------------------------
# Getting the original files
# --------------------------------------------------------------------------------------------


def _offline_message(what: str, err: BaseException) -> str:
    return (
        f"Could not {what} from the tutorial's Google Drive folder ({type(err).__name__}: "
        f"{err}). You may be offline, or Google Drive may be refusing automated downloads "
        "for a while (quota). Nothing is lost: the notebooks run on the built-in synthetic "
        "sample without any download (load_dataset('sample'), or just load_dataset()). To get "
        "the real data, retry later (finished files are kept and skipped), or download the "
        f"folder '{DRIVE_SUBFOLDER}' by hand from "
        f"https://drive.google.com/drive/folders/{DRIVE_FOLDER_ID} and run "
        "`python data_download.py --from-dir PATH`."
    )


def list_drive_files(folder_id: str = DRIVE_FOLDER_ID) -> dict[str, str]:
    """Files of the Drive folder's ``ema_probing_data/`` subfolder as ``{name: file_id}``."""
    import gdown
    import gdown.exceptions

    try:
        with tempfile.TemporaryDirectory() as scratch:
            entries = gdown.download_folder(
                id=folder_id, output=scratch, quiet=True, skip_download=True, use_cookies=False
            )
    except (OSError, gdown.exceptions.DownloadError) as err:
        raise DownloadFailed(_offline_message("list the files", err)) from err
    files = {}
    for entry in entries or []:
        parts = Path(str(entry.path)).parts
        if len(parts) >= 2 and parts[-2] == DRIVE_SUBFOLDER:
            files[parts[-1]] = entry.id
    return files


def drive_download(file_id: str, output: Path, quiet: bool = False) -> Path:
    """Download one Drive file with gdown (resumes a partial ``.part`` file)."""
    import gdown
    import gdown.exceptions

    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        gdown.download(id=file_id, output=str(output), quiet=quiet, resume=True)
    except (OSError, gdown.exceptions.DownloadError) as err:
        raise DownloadFailed(_offline_message(f"download {output.name}", err)) from err
    if not output.is_file():
        raise DownloadFailed(_offline_message(f"download {output.name}", OSError("no file")))
    return output


def _good_download(path: Path, record: dict | None) -> bool:
    """True when ``path`` exists and matches its manifest record (size and sha256)."""
    if record is None or not path.is_file() or path.stat().st_size != record.get("size"):
        return False
    return data.sha256_file(path) == record.get("sha256")


def fetch_from_drive(
    participants: Sequence[str],
    frame_states: bool,
    downloads: Path,
    records: dict,
    *,
    drop_missing: bool = False,
    quiet: bool = False,
) -> tuple[list[str], dict[str, Path]]:
    """Download the participants' files that are not already good; update ``records``.

    The Drive folder is listed only when something has to be downloaded, so a run on a complete
    cache needs no network.

    Parameters
    ----------
    participants : sequence of str
    frame_states : bool
        Also fetch the original frame-states pickles.
    downloads : Path
        Folder for the downloaded originals.
    records : dict
        ``manifest["downloads"]``: ``{name: {"sha256", "size", "drive_id"}}``, updated in place.
    drop_missing : bool, default False
        Skip participants whose files are not in the folder instead of failing.

    Returns
    -------
    (participants, {name: path})
    """
    wanted = list(participants)
    names = [n for p in wanted for n in source_names(p, frame_states)]
    pending = [n for n in names if not _good_download(downloads / n, records.get(n))]
    if pending:
        listing = list_drive_files()
        if drop_missing:
            kept = [p for p in wanted if all(n in listing for n in source_names(p, frame_states))]
            for p in sorted(set(wanted) - set(kept)):
                _say(f"{p}: not in the Drive folder, skipped.", quiet)
            wanted = kept or wanted
            names = [n for p in wanted for n in source_names(p, frame_states)]
            pending = [n for n in pending if n in names]
        missing = [n for n in pending if n not in listing]
        if missing:
            raise DownloadFailed(
                f"The Drive folder has no {', '.join(missing)} in '{DRIVE_SUBFOLDER}/' (it has: "
                f"{', '.join(sorted(listing)) or 'nothing'}). Choose other participants with "
                "--participants, or use --from-dir with files you have."
            )
        for name in pending:
            path = downloads / name
            path.unlink(missing_ok=True)
            _say(f"Downloading {name} ...", quiet)
            drive_download(listing[name], path, quiet=quiet)
            records[name] = {**data.file_record(path), "drive_id": listing[name]}
    return wanted, {n: downloads / n for n in names}


def find_local(names: Iterable[str], from_dir: Path) -> dict[str, Path]:
    """Locate the named files in ``from_dir`` (directly, or anywhere below it)."""
    if not from_dir.is_dir():
        raise DownloadFailed(f"--from-dir {from_dir} is not a directory.")
    found, missing = {}, []
    for name in names:
        direct = [from_dir / name, from_dir / DRIVE_SUBFOLDER / name]
        hits = [p for p in direct if p.is_file()] or sorted(from_dir.rglob(name))
        if hits:
            found[name] = hits[0]
        else:
            missing.append(name)
    if missing:
        raise DownloadFailed(
            f"Could not find {', '.join(missing)} in {from_dir} (looked there, in "
            f"{DRIVE_SUBFOLDER}/ and below). Point --from-dir at the folder holding the "
            "tutorial's files, or choose participants with --participants."
        )
    return found


# --------------------------------------------------------------------------------------------
# Converting one participant
# --------------------------------------------------------------------------------------------


def read_recordings(path: Path) -> pd.DataFrame:
    """Read and check an ``ema_audio_<P>.pkl`` (FILENAME, SENTENCE, AUDIO float32 16 kHz)."""
    table = load_dataframe(path)
    missing = [c for c in ("FILENAME", "SENTENCE", "AUDIO") if c not in table.columns]
    if missing:
        raise DownloadFailed(f"{path.name} lacks the columns {missing}; is it the right file?")
    table = table[["FILENAME", "SENTENCE", "AUDIO"]].reset_index(drop=True)
    audio = []
    for name, values in zip(table["FILENAME"], table["AUDIO"], strict=True):
        values = np.asarray(values, dtype=np.float32)
        if values.ndim != 1 or values.size == 0:
            raise DownloadFailed(f"{path.name}: audio of {name} has shape {values.shape}.")
        audio.append(values)
    table["AUDIO"] = audio
    if table["FILENAME"].duplicated().any():
        raise DownloadFailed(f"{path.name} lists a FILENAME twice.")
    return table


def read_labels(path: Path) -> pd.DataFrame:
    """Read and check an ``ema_labels_<P>.csv`` (exactly the 15 original columns)."""
    table = pd.read_csv(path, dtype={"FILENAME": str, "SENTENCE": str})
    if tuple(table.columns) != EMA_TABLE_COLUMNS:
        raise DownloadFailed(
            f"{path.name} has the columns {list(table.columns)}; expected exactly "
            f"{list(EMA_TABLE_COLUMNS)}. Is it the tutorial's EMA file?"
        )
    return table


def _stack_frames(frames: Any, where: str) -> np.ndarray:
    """One recording's frames (list of (d,) arrays, or a (T, d) / (1, T, d) array) → (T, d)."""
    if isinstance(frames, list | tuple):
        array = np.stack([np.asarray(f, dtype=np.float32).reshape(-1) for f in frames])
    else:
        array = np.asarray(frames, dtype=np.float32)
        if array.ndim == 3 and array.shape[0] == 1:
            array = array[0]
    if array.ndim != 2:
        raise DownloadFailed(f"Frame states of {where} have shape {array.shape}, expected (T, d).")
    return np.ascontiguousarray(array)


def convert_frame_states(path: Path, recordings: pd.DataFrame) -> dict[str, np.ndarray]:
    """Original frame-states pickle → ``{feature_key: (T, d) float32}``, frame counts checked."""
    obj = safe_load(path)
    if not isinstance(obj, dict) or not obj:
        raise DownloadFailed(f"{path.name} does not hold a {{layer: {{filename: frames}}}} dict.")
    lengths = dict(zip(recordings["FILENAME"], (a.size for a in recordings["AUDIO"]), strict=True))
    arrays = {}
    for layer, per_file in obj.items():
        for filename, frames in per_file.items():
            if filename not in lengths:
                raise DownloadFailed(
                    f"{path.name} has states for {filename}, which is not among the recordings; "
                    "are the frame-states and audio files of the same participant?"
                )
            array = _stack_frames(frames, f"{filename} layer {layer}")
            _check_frame_count(array, lengths[filename], filename)
            arrays[data.feature_key(int(layer), filename)] = array
    return arrays


def _check_frame_count(array: np.ndarray, n_samples: int, filename: str) -> None:
    expected = n_model_frames(n_samples)
    if array.shape[0] != expected:
        raise DownloadFailed(
            f"{filename}: {array.shape[0]} frames of hidden states but {expected} expected from "
            f"{n_samples} audio samples; the features do not belong to this audio."
        )


def extract_features(recordings: pd.DataFrame, model_name: str, quiet: bool) -> dict:
    """Re-extract hidden states from the audio → ``{feature_key: (T, d) float32}``."""
    from . import extract

    feature_extractor, model = extract.load_model(model_name)
    pairs = zip(recordings["FILENAME"], recordings["AUDIO"], strict=True)
    states = extract.extract_frame_states(pairs, model, feature_extractor, progress=not quiet)
    return {
        data.feature_key(layer, name): array
        for layer, per_file in states.items()
        for name, array in per_file.items()
    }


def convert_participant(
    participant: str,
    sources: dict[str, Path],
    data_dir: Path,
    *,
    frame_states: bool,
    model_name: str,
    quiet: bool = False,
) -> dict[str, dict]:
    """Convert one participant's originals into the cache; returns the new file records."""
    _say(f"Converting {participant} ...", quiet)
    recordings = read_recordings(sources[audio_name(participant)])
    labels = read_labels(sources[labels_name(participant)])
    if frame_states:
        features = convert_frame_states(sources[FRAME_STATES_FILES[participant]], recordings)
    else:
        features = extract_features(recordings, model_name, quiet)
    paths = data.write_recordings(data_dir, participant, recordings)
    paths.append(data.write_ema(data_dir, participant, labels))
    paths.append(data.write_features(data_dir, participant, features))
    return {p.relative_to(data_dir).as_posix(): data.file_record(p) for p in paths}


# --------------------------------------------------------------------------------------------
# The whole run
# --------------------------------------------------------------------------------------------


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr)


def _versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for package in (
        "speech-cka-tutorial",
        "numpy",
        "pandas",
        "librosa",
        "gdown",
        "torch",
        "transformers",
    ):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _participant_is_good(data_dir: Path, manifest: dict, participant: str, recipe: dict) -> bool:
    """True when the participant's cache files exist, hash as recorded, from the same inputs."""
    if manifest.get("conversions", {}).get(participant) != recipe:
        return False
    files = manifest.get("files", {})
    for rel in data.participant_files(participant):
        record = files.get(rel)
        if record is None or not _good_download(data_dir / rel, record):
            return False
    return True


def _layers(data_dir: Path, participant: str) -> list[int]:
    with np.load(data_dir / participant / data.FEATURES_NAME, allow_pickle=False) as npz:
        return sorted({data.parse_feature_key(k)[0] for k in npz.files})


def run(
    data_dir: str | Path | None = None,
    *,
    from_dir: str | Path | None = None,
    frame_states: bool = False,
    model_name: str = DEFAULT_MODEL,
    participants: Sequence[str] | None = None,
    quiet: bool = False,
) -> Path:
    """Get and convert the real data; returns the cache directory.

    Parameters
    ----------
    data_dir : path, optional
        Cache directory (default ``$TUTORIAL_DATA_DIR`` or ``<repo>/data``).
    from_dir : path, optional
        Use the original files found in this folder instead of downloading.
    frame_states : bool, default False
        Convert the original frame-states pickles instead of re-extracting the features.
    model_name : str, default "facebook/wav2vec2-base"
        Model to re-extract with (ignored with ``frame_states``).
    participants : sequence of str, optional
        Default: those of the previous complete run, else F02 and M02 (each only if its files
        exist).
    quiet : bool, default False
        No progress output.

    Raises
    ------
    DownloadFailed
        With a message for the user (offline, missing files, wrong formats, missing torch).
    """
    data_dir = Path(data_dir) if data_dir is not None else data.default_data_dir()
    if frame_states:
        model_name = DEFAULT_MODEL
    else:
        _require_extract()
    manifest = data.read_manifest(data_dir) or {}
    if manifest.get("format_version") != data.CACHE_FORMAT_VERSION:
        manifest = {}
    wanted = list(participants or PARTICIPANTS)
    if participants is None and manifest.get("complete") and manifest.get("participants"):
        wanted = list(manifest["participants"])  # a rerun keeps what the last run found
    if participants is None and from_dir is not None:
        wanted = [p for p in wanted if _has_local(Path(from_dir), p)] or wanted
    manifest.update(
        format_version=data.CACHE_FORMAT_VERSION,
        complete=False,
        source="real",
        origin="local folder" if from_dir else "google drive",
        drive_folder_id=DRIVE_FOLDER_ID,
    )
    for key in ("downloads", "files", "conversions"):
        manifest.setdefault(key, {})
    if from_dir is not None:
        names = [n for p in wanted for n in source_names(p, frame_states)]
        sources = find_local(names, Path(from_dir))
        for name, path in sources.items():
            manifest["downloads"][name] = {**data.file_record(path), "path": str(path)}
    else:
        try:
            wanted, sources = fetch_from_drive(
                wanted,
                frame_states,
                data_dir / DOWNLOADS_DIR,
                manifest["downloads"],
                drop_missing=participants is None,
                quiet=quiet,
            )
        finally:
            if manifest["downloads"]:  # keep what was fetched, so a rerun can resume
                data.write_json(data_dir / data.MANIFEST_NAME, manifest)
    features = "frame_states" if frame_states else f"extracted:{model_name}"
    for p in wanted:
        recipe = {
            "features": features,
            "sources": {
                n: manifest["downloads"][n]["sha256"] for n in source_names(p, frame_states)
            },
        }
        if _participant_is_good(data_dir, manifest, p, recipe):
            _say(f"{p}: cache verified, nothing to do.", quiet)
            continue
        manifest["conversions"].pop(p, None)
        records = convert_participant(
            p, sources, data_dir, frame_states=frame_states, model_name=model_name, quiet=quiet
        )
        manifest["files"].update(records)
        manifest["conversions"][p] = recipe
        data.write_json(data_dir / data.MANIFEST_NAME, manifest)
    keep = {rel for p in wanted for rel in data.participant_files(p)}
    manifest["files"] = {k: v for k, v in manifest["files"].items() if k in keep}
    manifest["conversions"] = {p: manifest["conversions"][p] for p in wanted}
    described = (
        "the original tutorial's frame states"
        if frame_states
        else f"hidden states re-extracted with {model_name}"
    )
    manifest.update(
        participants=wanted,
        model_name=model_name,
        features=features,
        layers=_layers(data_dir, wanted[0]),
        frame_rate_hz=FRAME_RATE_HZ,
        sample_rate=SAMPLE_RATE,
        description=DESCRIPTION.format(features=described),
        versions=_versions(),
        complete=True,
    )
    data.write_json(data_dir / data.MANIFEST_NAME, manifest)
    _say(f"Done: the real data are cached in {data_dir}.", quiet)
    return data_dir


def _has_local(from_dir: Path, participant: str) -> bool:
    try:
        find_local([audio_name(participant), labels_name(participant)], from_dir)
    except DownloadFailed:
        return False
    return True


def _require_extract() -> None:
    from .extract import require_torch

    try:
        require_torch()
    except ImportError as err:
        raise DownloadFailed(str(err)) from err


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def describe_cache(data_dir: str | Path | None = None) -> str:
    """Human-readable summary of what is cached (used by ``--list``)."""
    data_dir = Path(data_dir) if data_dir is not None else data.default_data_dir()
    manifest = data.read_manifest(data_dir)
    if manifest is None:
        return (
            f"No cache in {data_dir}. Run `python data_download.py` to get the real data; the "
            "built-in synthetic sample needs no download."
        )
    problems = data.cache_problems(data_dir)
    lines = [
        f"Cache: {data_dir}",
        f"  status: {'complete' if not problems else 'INCOMPLETE: ' + '; '.join(problems[:3])}",
        f"  source: {manifest.get('source')}, model: {manifest.get('model_name')}, "
        f"features: {manifest.get('features')}, layers: {len(manifest.get('layers', []))}",
    ]
    for rel, record in sorted(manifest.get("files", {}).items()):
        lines.append(f"  {rel:<28} {record.get('size', 0) / 1e6:10.2f} MB")
    for name, record in sorted(manifest.get("downloads", {}).items()):
        lines.append(f"  original {name:<30} {record.get('size', 0) / 1e6:10.2f} MB")
    return "\n".join(lines)


SAMPLE_MESSAGE = (
    "The offline sample is built into the package, so there is nothing to download or write: "
    "in a notebook, `from tutorial_utils.data import load_dataset; ds = load_dataset('sample')` "
    "(load_dataset() alone also falls back to it when the real data are not cached). It is "
    "synthetic (made with VocalTractLab and a simulated encoder), so its numbers illustrate the "
    "methods but are not the tutorial's findings. Run `python data_download.py` for the real data."
)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``data_download.py``."""
    parser = argparse.ArgumentParser(
        prog="data_download.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent(
            """\
            Get the real tutorial data and convert it into a safe, verified cache.

            By default the original files (audio and EMA of F02 and M02) are downloaded from
            the tutorial's public Google Drive folder with gdown, and the 13 Wav2Vec2 layers
            are re-extracted from the audio (needs torch + transformers). The cache holds csv
            and npz files only (no pickles) plus manifest.json with the sha256 of every file;
            a second run verifies them and only redoes what is missing or corrupt.

            Cache directory: --data-dir, else $TUTORIAL_DATA_DIR, else data/ in the repository.
            Nothing to download? The notebooks also run on the built-in synthetic sample
            (see --sample)."""
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              python data_download.py                         download, re-extract features
              python data_download.py --frame-states          use the original features
              python data_download.py --from-dir ~/InterspeechTutorial/ema_probing_data
              python data_download.py --model microsoft/wavlm-base
              python data_download.py --list"""
        ),
    )
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
    parser.add_argument(
        "--sample",
        action="store_true",
        help="write nothing; explain how to use the built-in offline sample instead",
    )
    parser.add_argument("--list", action="store_true", help="show what is cached and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``data_download.py``; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.sample:
        print(SAMPLE_MESSAGE)
        return 0
    if args.list:
        print(describe_cache(args.data_dir))
        return 0
    try:
        run(
            args.data_dir,
            from_dir=args.from_dir,
            frame_states=args.frame_states,
            model_name=args.model,
            participants=args.participants,
            quiet=args.quiet,
        )
    except DownloadFailed as err:
        print(textwrap.fill(f"data_download.py: {err}", width=100), file=sys.stderr)
        return 2
    except (ValueError, OSError, ImportError) as err:
        message = f"data_download.py: {type(err).__name__}: {err}"
        print(textwrap.fill(message, width=100), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
