"""Convert the originals into the cache: one run per folder at a time (filelock on ``.lock``),
the new cache built beside the old one (:func:`.cache.write_cache`), so a failed, killed or
disk-full run leaves the previous cache whole. Hidden states are re-extracted from the audio
(:mod:`.extract`) or read from the original frame-states pickles (``--frame-states``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from filelock import FileLock, Timeout

from ..frames import FRAME_RATE_HZ, SAMPLE_RATE
from . import cache, download, extract, originals, validate
from .download import DRIVE_SUBFOLDER, DRIVE_URL, PARTICIPANTS, DownloadFailed

LOCK_WAIT_S = 10.0
"""How long a second conversion of the same folder waits for the first before giving up."""


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr)


def _wanted(participants: Sequence[str] | None, from_dir: Path | None) -> list[str]:
    try:
        wanted = [validate.check_participant(p) for p in participants or []]
    except ValueError as err:
        raise DownloadFailed(str(err)) from None
    if wanted or from_dir is None:
        return wanted or list(PARTICIPANTS)
    present = [p for p in PARTICIPANTS if list(from_dir.rglob(f"ema_audio_{p}.pkl"))]
    return present or list(PARTICIPANTS)


def _up_to_date(data_dir: Path, wanted: list[str], origin: str, sources: dict | None) -> bool:
    try:
        manifest = cache.read_manifest(data_dir)
    except cache.CacheUnusable:
        return False
    same = manifest["participants"] == wanted and manifest.get("hidden_states") == origin
    same = same and sources in (None, manifest.get("sources"))
    return same and not cache.cache_problems(data_dir, manifest, verify=True)


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
    data_dir, from_dir : path, optional
        The cache directory (default :func:`.cache.default_data_dir`); the folder holding the
        originals (default: download them from Google Drive into ``<data_dir>/downloads``).
    frame_states : bool, default False
        Convert the original frame-states pickles instead of re-extracting hidden states.
    model_name : str, default "facebook/wav2vec2-base"
        Model to re-extract with, on ``device`` ("auto", "cpu" or "cuda").
    participants : sequence of str, optional
        Default F02 and M02 (with ``from_dir``: those whose files are there).
    quiet : bool, default False
    lock_wait : float, optional
        Seconds to wait for another conversion of the folder (default :data:`LOCK_WAIT_S`).

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
    names = [n for p in wanted for n in download.source_names(p, frame_states)]
    local = download.find_local(names, from_dir) if from_dir is not None else None
    sources = {n: cache.sha256_file(path) for n, path in local.items()} if local else None
    origin = "frame_states" if frame_states else f"extracted:{model_name}"
    lock = FileLock(data_dir / ".lock", timeout=LOCK_WAIT_S if lock_wait is None else lock_wait)
    if _up_to_date(data_dir, wanted, origin, sources):
        _say(f"The cache in {data_dir} is complete and verified: nothing to do.", quiet)
        with suppress(OSError, Timeout), lock.acquire(timeout=0):  # not if read-only or busy
            cache.sweep(data_dir, cache.read_manifest(data_dir)["generation"])
        return data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with lock:
            with suppress(cache.CacheUnusable):
                cache.sweep(data_dir, cache.read_manifest(data_dir)["generation"])
            paths = local or download.fetch(
                names, data_dir / "downloads", originals.KNOWN_SHA256, quiet
            )
            sources = sources or {n: cache.sha256_file(path) for n, path in paths.items()}
            for name, path in paths.items():
                with _rejecting(local is None):
                    originals.check_known_hash(name, path, sources[name])
            states = "the original tutorial's frame states" if frame_states else (
                f"hidden states re-extracted with {model_name}")  # fmt: skip
            tables = _read(wanted, paths, frame_states, model_name, device, local is None, quiet)
            cache.write_cache(
                data_dir, tables, source="real", hidden_states=origin, sources=sources,
                model_name=model_name, origin="local folder" if local else "google drive",
                drive_folder_id=download.DRIVE_FOLDER_ID, frame_rate_hz=FRAME_RATE_HZ,
                sample_rate=SAMPLE_RATE, description="Tutorial data: read IEEE sentences from the "
                "Haskins Production Rate Comparison database (Tiede et al. 2017), audio at 16 kHz, "
                f"EMA at 50 Hz, {states}.",
            )  # fmt: skip
    except Timeout:
        raise DownloadFailed(
            f"Another conversion is writing the cache in {data_dir}. Wait for it to finish and "
            "run the command again, or use another --data-dir."
        ) from None
    except OSError as err:
        raise DownloadFailed(
            f"Writing the cache in {data_dir} failed ({err.strerror or err}). The previous "
            "cache is unchanged. Free some disk space (or choose another --data-dir) and retry."
        ) from err
    _say(f"Done: the real data are cached in {data_dir}.", quiet)
    return data_dir


@contextmanager
def _rejecting(downloaded: bool) -> Iterator[None]:
    """Turn a bad original into a message with advice; a bad download is deleted first."""
    try:
        yield
    except originals.BadOriginal as err:
        if downloaded:
            err.path.unlink(missing_ok=True)
        advice = (
            "The download was deleted, so the next run fetches it again. If that fails the same "
            f"way, Google Drive is not sending the file itself: download the folder "
            f"'{DRIVE_SUBFOLDER}' by hand from {DRIVE_URL} and use --from-dir."
            if downloaded
            else f"Replace it with a good copy (e.g. download the folder '{DRIVE_SUBFOLDER}' "
            "again) and run the command again."
        )
        raise DownloadFailed(f"{err} {advice}") from err


def _read(wanted, paths, frame_states, model_name, device, downloaded, quiet) -> Iterator:
    """``(participant, (recordings, ema, states))``, read and checked one at a time."""
    for p in wanted:
        _say(f"Converting {p} ...", quiet)
        with _rejecting(downloaded):
            recordings = originals.read_recordings(paths[f"ema_audio_{p}.pkl"])
            lengths = originals.audio_lengths(recordings)
            ema = originals.read_labels(paths[f"ema_labels_{p}.csv"], lengths)
            states = frame_states and originals.read_frame_states(
                paths[download.FRAME_STATES_FILES[p]], lengths
            )
        yield (
            p,
            (recordings, ema, states or _extracted(recordings, lengths, model_name, device, quiet)),
        )


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
    return {cache.hidden_state_key(i, n): a for i, per in states.items() for n, a in per.items()}
