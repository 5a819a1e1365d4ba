"""Convert the original files into the cache: recordings, EMA and hidden states per participant.

``ema_audio_<P>.pkl`` → ``recordings.csv`` + ``audio.npz``, ``ema_labels_<P>.csv`` →
``ema.csv``, and the hidden states → ``hidden_states.npz`` (or, with ``--store npy``, the
store of :mod:`tutorial_utils.io.store`), either re-extracted from the audio with
:mod:`tutorial_utils.io.extract` (default; ``--device``, ``--batch-size``) or converted from the
original ``frame_states_p*_test.pkl`` files (read by :mod:`tutorial_utils.io.originals`, no
torch).

A run is a transaction (:mod:`tutorial_utils.io.transaction`) under the cache directory's lock
(:mod:`tutorial_utils.io.lock`): the new cache is built beside the old one and switched to in
one atomic step, so a failed or killed run leaves the old cache as it was. A run on a complete
cache verifies every file by sha256 and writes nothing at all when nothing changed (so it also
works on a read-only filesystem); otherwise participants whose files are still good are
carried over and only the others are converted again.
"""

from __future__ import annotations

import importlib.metadata
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from ..frames import FRAME_RATE_HZ, SAMPLE_RATE
from . import cache, extract, lock, originals, plan, sources, validate
from .download import (
    DRIVE_FOLDER_ID,
    FRAME_STATES_FILES,
    DownloadFailed,
    _say,
    audio_name,
    labels_name,
)
from .lock import cache_lock, lock_if_free
from .plan import Request
from .transaction import Transaction, sweep

DESCRIPTION = (
    "Tutorial data: read IEEE sentences from the Haskins Production Rate Comparison database "
    "(Tiede et al. 2017), audio at 16 kHz, EMA at 50 Hz, {hidden_states}."
)
_VERSIONED = ("speech-cka-tutorial", "numpy", "pandas", "librosa", "gdown", "torch", "transformers")


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
    batch_size: int | None = None,
    store: str = "npz",
) -> Path:
    """Get and convert the real data; returns the cache directory.

    Parameters
    ----------
    data_dir : path, optional
        Cache directory (default ``$TUTORIAL_DATA_DIR`` or ``<repo>/data``).
    from_dir : path, optional
        Use the original files found in this folder instead of downloading.
    frame_states : bool, default False
        Convert the original frame-states pickles instead of re-extracting the hidden states.
    model_name : str, default "facebook/wav2vec2-base"
        Model to re-extract with (ignored with ``frame_states``).
    participants : sequence of str, optional
        Default: those of the previous complete run, else F02 and M02 (each only if its files
        exist).
    quiet : bool, default False
        No progress output.
    lock_wait : float, optional
        Seconds to wait for another conversion of the same directory to finish (default
        :data:`tutorial_utils.io.lock.LOCK_WAIT_S`, 10).
    device, batch_size
        Where and how many recordings at a time to re-extract (see
        :func:`tutorial_utils.io.extract.extract_hidden_states`).
    store : {"npz", "npy"}, default "npz"
        ``"npy"``: hidden states in the lazily read store of :mod:`tutorial_utils.io.store`
        (re-extracted states are streamed into it, one recording in memory at a time).

    Raises
    ------
    DownloadFailed
        With a message for the user (offline, missing or bad files, a full disk, another run
        in progress, missing torch). The previous cache is then unchanged.
    """
    request = plan.make_request(
        data_dir, from_dir, frame_states, model_name, participants, quiet, device, batch_size, store
    )
    with _plain_warnings():
        if plan.up_to_date(request):
            _say(f"The cache in {request.data_dir} is complete and verified: nothing to do.", quiet)
            _tidy(request.data_dir)
            return request.data_dir
        with cache_lock(request.data_dir, lock.LOCK_WAIT_S if lock_wait is None else lock_wait):
            old = plan.valid_manifest(request.data_dir)
            sweep(request.data_dir, old)
            _convert(request, old)
    return request.data_dir


@contextmanager
def _plain_warnings() -> Iterator[None]:
    """Show data warnings as one ``warning: ...`` line each (no source line)."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", validate.DataWarning)
        warnings.showwarning = lambda message, *_, **__: print(
            f"warning: {message}", file=sys.stderr
        )
        yield


def _tidy(data_dir: Path) -> None:
    """Remove leftovers of interrupted runs, if the directory is writable and not in use."""
    with lock_if_free(data_dir) as locked:
        if locked:
            sweep(data_dir, plan.valid_manifest(data_dir))


def _convert(request: Request, old: dict | None) -> None:
    """Build the new generation and switch to it (or leave everything as it is)."""
    wanted, found, records = plan.originals_for(request, old)
    transaction = _writing(request, Transaction, request.data_dir)
    try:
        recipes = {p: request.recipe(p, records) for p in wanted}
        for p in wanted:
            _add_participant(request, transaction, old, p, found, recipes[p])
        if old is not None and transaction.reused == set(wanted) == set(old["participants"]):
            _say("Nothing changed: the cache is complete and verified.", request.quiet)
            transaction.abort()
            return
        manifest = _manifest(request, transaction, wanted, recipes, records)
        _writing(request, transaction.commit, manifest, old)
    except BaseException:
        transaction.abort()
        raise
    _say(f"Done: the real data are cached in {request.data_dir}.", request.quiet)


def _writing(request: Request, func: Callable, *args: Any) -> Any:
    """Run one writing step; a failed write (e.g. a full disk) becomes a clear message."""
    try:
        return func(*args)
    except OSError as err:
        raise DownloadFailed(
            f"Writing the cache in {request.data_dir} failed ({err.strerror or err}). The "
            "previous cache is unchanged. Free some disk space (or choose another --data-dir) "
            "and run the command again."
        ) from err


def _add_participant(
    request: Request, transaction: Transaction, old: dict | None, p: str, found: dict, recipe: dict
) -> None:
    """Carry one participant over from the old cache, or convert it from the originals."""
    if old is not None and plan.participant_is_good(request.data_dir, old, p, recipe):
        _say(f"{p}: cache verified, carried over.", request.quiet)
        _writing(request, transaction.reuse, p, old)
        return
    convert_participant(request, transaction, p, found)


def convert_participant(request: Request, transaction: Transaction, p: str, found: dict) -> None:
    """Convert one participant from its originals into the transaction's generation."""
    _say(f"Converting {p} ...", request.quiet)
    try:
        recordings, ema, hidden = _read_participant(request, p, found)
    except originals.BadOriginal as err:
        sources.reject(request.data_dir, err, downloaded=request.from_dir is None)
    _writing(request, transaction.write, p, recordings, ema, hidden, request.store)


def _read_participant(request: Request, p: str, found: dict) -> tuple:
    """(recordings, EMA, {hidden_state_key: array}) of one participant, all checked; with the
    npy store, re-extracted states come as a stream checked recording by recording."""
    recordings = originals.read_recordings(found[audio_name(p)])
    lengths = originals.audio_lengths(recordings)
    ema = originals.read_labels(found[labels_name(p)], lengths)
    if request.frame_states:
        hidden = originals.read_frame_states(found[FRAME_STATES_FILES[p]], lengths)
    else:
        hidden = _extracted_hidden_states(request, recordings, lengths)
    return recordings, ema, hidden


def _extracted_hidden_states(request: Request, recordings: pd.DataFrame, lengths: dict) -> Any:
    """Re-extract hidden states from the audio → ``{hidden_state_key: (T, d) float32}``, or
    for the npy store an iterator of ``(filename, layers)``."""
    feature_extractor, model = extract.load_model(request.model_name)
    pairs = zip(recordings["FILENAME"], recordings["AUDIO"], strict=True)
    options = {"device": request.device, "batch_size": request.batch_size}
    if request.store == "npy":
        stream = extract.iter_hidden_states(
            pairs, model, feature_extractor, progress=not request.quiet, **options
        )
        return _checked_stream(stream, lengths, f"hidden states of {request.model_name}")
    try:
        states = extract.extract_hidden_states(
            pairs, model, feature_extractor, progress=not request.quiet, **options
        )
        validate.check_hidden_states(states, lengths, f"hidden states of {request.model_name}")
    except ValueError as err:
        raise DownloadFailed(str(err)) from err
    return {
        cache.hidden_state_key(layer, name): array
        for layer, per_file in states.items()
        for name, array in per_file.items()
    }


def _checked_stream(stream: Iterable[tuple[str, list]], lengths: dict, source: str) -> Iterator:
    """Check each recording's hidden states as it comes (as :func:`validate.check_hidden_states`
    checks them all at once), so that the store never receives bad values."""
    dims: set[int] = set()
    try:
        for filename, layers in stream:
            per_layer = {layer: {filename: array} for layer, array in enumerate(layers)}
            validate.check_hidden_states(per_layer, lengths, source)
            dims.add(layers[0].shape[1])
            if len(dims) > 1:
                raise ValueError(
                    f"{source}: the hidden states have different sizes {sorted(dims)}."
                )
            yield filename, layers
    except ValueError as err:
        raise DownloadFailed(str(err)) from err


def _versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for package in _VERSIONED:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _manifest(
    request: Request, transaction: Transaction, wanted: list[str], recipes: dict, records: dict
) -> dict[str, Any]:
    """The new manifest (its ``generation`` and ``files`` are added by the commit)."""
    states = [
        cache.participant_files(p, transaction.files, transaction.generation)[3] for p in wanted
    ]
    layers = {tuple(cache.stored_layers(request.data_dir / rel)) for rel in states}
    if len(layers) != 1:
        raise DownloadFailed(f"The participants' hidden states have different layers {layers}.")
    described = (
        "the original tutorial's frame states"
        if request.frame_states
        else f"hidden states re-extracted with {request.model_name}"
    )
    return {
        "format_version": cache.CACHE_FORMAT_VERSION,
        "complete": True,
        "source": "real",
        "origin": "local folder" if request.from_dir else "google drive",
        "drive_folder_id": DRIVE_FOLDER_ID,
        "participants": wanted,
        "conversions": recipes,
        "downloads": records,
        "model_name": request.model_name,
        "hidden_states": request.hidden_origin,
        "layers": list(layers.pop()),
        "frame_rate_hz": FRAME_RATE_HZ,
        "sample_rate": SAMPLE_RATE,
        "description": DESCRIPTION.format(hidden_states=described),
        "versions": _versions(),
    }
