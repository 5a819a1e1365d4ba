"""Convert the original files into the cache, one conversion per folder at a time.

``ema_audio_<P>.pkl`` → recordings and audio, ``ema_labels_<P>.csv`` → EMA, and hidden states
re-extracted from the audio (:mod:`.extract`) or read from the original
``frame_states_p*_test.pkl`` (``--frame-states``, no torch). A run holds ``<data_dir>/.lock``
(filelock) and writes the new cache beside the old one (:func:`.cache.write_cache`): a failed,
killed or disk-full run leaves the previous cache whole. A run on a complete, verified cache
made from the same inputs writes nothing (so it also works read-only).
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from ..frames import FRAME_RATE_HZ, SAMPLE_RATE
from . import cache, extract, originals, validate
from .download import (
    DOWNLOADS_DIR,
    DRIVE_FOLDER_ID,
    DRIVE_SUBFOLDER,
    DRIVE_URL,
    FRAME_STATES_FILES,
    PARTICIPANTS,
    DownloadFailed,
    fetch,
    find_local,
    source_names,
)

LOCK_WAIT_S = 10.0
"""How long a second conversion of the same folder waits for the first before giving up."""
_VERSIONED = ("speech-cka-tutorial", "numpy", "pandas", "gdown", "torch", "transformers")


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr)


def _wanted(participants: Sequence[str] | None, from_dir: Path | None) -> list[str]:
    if participants is not None:
        try:
            wanted = [validate.check_participant(p) for p in participants]
        except ValueError as err:
            raise DownloadFailed(str(err)) from None
        if not wanted:
            raise DownloadFailed("--participants needs at least one participant id.")
        return wanted
    if from_dir is None:
        return list(PARTICIPANTS)
    present = [p for p in PARTICIPANTS if list(Path(from_dir).rglob(f"ema_audio_{p}.pkl"))]
    return present or list(PARTICIPANTS)


def _up_to_date(data_dir: Path, wanted: list[str], origin: str, sources: dict | None) -> bool:
    try:
        manifest = cache.read_manifest(data_dir)
        if cache.cache_problems(data_dir, manifest, verify=True):
            return False
    except cache.CacheUnusable:
        return False
    same = manifest["participants"] == wanted and manifest.get("hidden_states") == origin
    return same and (sources is None or manifest.get("sources") == sources)


def run(
    data_dir: str | Path | None = None,
    *,
    from_dir: str | Path | None = None,
    frame_states: bool = False,
    model_name: str = extract.DEFAULT_MODEL,
    participants: Sequence[str] | None = None,
    quiet: bool = False,
    lock_wait: float | None = None,
    device: str = "auto",
) -> Path:
    """Get and convert the real data; returns the cache directory.

    Parameters
    ----------
    data_dir : path, optional
        Cache directory (default :func:`.cache.default_data_dir`).
    from_dir : path, optional
        Convert the original files found in this folder instead of downloading them.
    frame_states : bool, default False
        Convert the original frame-states pickles instead of re-extracting hidden states.
    model_name : str, default "facebook/wav2vec2-base"
        Model to re-extract with (ignored with ``frame_states``).
    participants : sequence of str, optional
        Default F02 and M02 (with ``from_dir``: those whose files are there).
    quiet : bool, default False
        No progress output.
    lock_wait : float, optional
        Seconds to wait for another conversion of the folder (default :data:`LOCK_WAIT_S`).
    device : {"auto", "cpu", "cuda"}, default "auto"
        Where to re-extract.

    Raises
    ------
    DownloadFailed
        With a message for the user; the previous cache is then unchanged.
    """
    data_dir = Path(data_dir) if data_dir is not None else cache.default_data_dir()
    from_dir = Path(from_dir) if from_dir is not None else None
    wanted = _wanted(participants, from_dir)
    if not frame_states:
        try:
            extract.resolve_device(device)  # before any download: a missing GPU stops here
        except (ImportError, ValueError) as err:
            raise DownloadFailed(str(err)) from None
    names = [n for p in wanted for n in source_names(p, frame_states)]
    local = find_local(names, from_dir) if from_dir is not None else None
    sources = {n: cache.sha256_file(path) for n, path in local.items()} if local else None
    origin = "frame_states" if frame_states else f"extracted:{model_name}"
    lock = FileLock(data_dir / ".lock", timeout=LOCK_WAIT_S if lock_wait is None else lock_wait)
    if _up_to_date(data_dir, wanted, origin, sources):
        _say(f"The cache in {data_dir} is complete and verified: nothing to do.", quiet)
        try:
            with lock.acquire(timeout=0):
                cache.sweep(data_dir, cache.read_manifest(data_dir)["generation"])
        except (OSError, Timeout):
            pass  # read-only, or in use: leftovers of killed runs are removed another time
        return data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with lock:
            cache.sweep(data_dir, _current(data_dir))
            paths = local or fetch(names, data_dir / DOWNLOADS_DIR, originals.KNOWN_SHA256, quiet)
            sources = sources or {n: cache.sha256_file(path) for n, path in paths.items()}
            for name, path in paths.items():
                with _rejecting(local is None):
                    originals.check_known_hash(name, path, sources[name])
            tables = _participants(
                wanted, paths, frame_states, model_name, device, local is None, quiet
            )
            cache.write_cache(
                data_dir, tables, source="real", hidden_states=origin, sources=sources,
                origin="local folder" if local else "google drive", drive_folder_id=DRIVE_FOLDER_ID,
                model_name=model_name, frame_rate_hz=FRAME_RATE_HZ, sample_rate=SAMPLE_RATE,
                description=_description(frame_states, model_name), versions=_versions(),
            )  # fmt: skip
    except Timeout:
        raise DownloadFailed(
            f"Another conversion is writing the cache in {data_dir}. Wait for it to finish and "
            "run the command again, or use another --data-dir."
        ) from None
    except OSError as err:
        raise DownloadFailed(
            f"Writing the cache in {data_dir} failed ({err.strerror or err}). The previous "
            "cache is unchanged. Free some disk space (or choose another --data-dir) and run "
            "the command again."
        ) from err
    _say(f"Done: the real data are cached in {data_dir}.", quiet)
    return data_dir


def _current(data_dir: Path) -> str | None:
    try:
        return cache.read_manifest(data_dir)["generation"]
    except cache.CacheUnusable:
        return None


@contextmanager
def _rejecting(downloaded: bool) -> Iterator[None]:
    """Turn a bad original into a message with advice; a bad download is deleted first."""
    try:
        yield
    except originals.BadOriginal as err:
        if downloaded:
            err.path.unlink(missing_ok=True)
            advice = (
                "The download was deleted, so the next run fetches it again. If that fails the "
                "same way, Google Drive is not sending the file itself: download the folder "
                f"'{DRIVE_SUBFOLDER}' by hand from {DRIVE_URL} and use --from-dir."
            )
        else:
            advice = (
                f"Replace it with a good copy (e.g. download the folder '{DRIVE_SUBFOLDER}' "
                "again) and run the command again."
            )
        raise DownloadFailed(f"{err} {advice}") from err


def _participants(wanted, paths, frame_states, model_name, device, downloaded, quiet) -> Iterator:
    """``(participant, (recordings, ema, states))`` read and checked one at a time."""
    for p in wanted:
        _say(f"Converting {p} ...", quiet)
        with _rejecting(downloaded):
            recordings = originals.read_recordings(paths[f"ema_audio_{p}.pkl"])
            lengths = originals.audio_lengths(recordings)
            ema = originals.read_labels(paths[f"ema_labels_{p}.csv"], lengths)
            if frame_states:
                states = originals.read_frame_states(paths[FRAME_STATES_FILES[p]], lengths)
        if not frame_states:
            states = _extracted(recordings, lengths, model_name, device, quiet)
        yield p, (recordings, ema, states)


def _extracted(recordings, lengths: dict, model_name: str, device: str, quiet: bool) -> dict:
    feature_extractor, model = extract.load_model(model_name)
    pairs = zip(recordings["FILENAME"], recordings["AUDIO"], strict=True)
    try:
        states = extract.extract_hidden_states(
            pairs, model, feature_extractor, device=device, progress=not quiet
        )
        validate.check_hidden_states(states, lengths, f"hidden states of {model_name}")
    except ValueError as err:
        raise DownloadFailed(str(err)) from err
    return {
        cache.hidden_state_key(layer, name): array
        for layer, per_file in states.items()
        for name, array in per_file.items()
    }


def _description(frame_states: bool, model_name: str) -> str:
    states = (
        "the original tutorial's frame states"
        if frame_states
        else f"hidden states re-extracted with {model_name}"
    )
    return (
        "Tutorial data: read IEEE sentences from the Haskins Production Rate Comparison "
        f"database (Tiede et al. 2017), audio at 16 kHz, EMA at 50 Hz, {states}."
    )


def _versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for package in _VERSIONED:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
