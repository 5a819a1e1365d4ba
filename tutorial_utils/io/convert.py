"""Convert the original files into the cache: recordings, EMA and hidden states per participant.

``ema_audio_<P>.pkl`` → ``recordings.csv`` + ``audio.npz``, ``ema_labels_<P>.csv`` →
``ema.csv``, and the hidden states → ``hidden_states.npz``, either re-extracted from the audio
with :mod:`tutorial_utils.io.extract` (default) or converted from the original
``frame_states_p*_test.pkl`` files. Pickles are read through
:mod:`tutorial_utils.io.safe_pickle` (allow-list, no torch needed). A second run verifies
everything by sha256 and only redoes what is missing or corrupt.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..frames import EMA_TABLE_COLUMNS, FRAME_RATE_HZ, SAMPLE_RATE, n_model_frames
from . import cache, extract
from .download import (
    DOWNLOADS_DIR,
    DRIVE_FOLDER_ID,
    FRAME_STATES_FILES,
    PARTICIPANTS,
    DownloadFailed,
    _good_download,
    _say,
    audio_name,
    fetch_from_drive,
    find_local,
    labels_name,
    source_names,
)
from .files import file_record, write_json
from .safe_pickle import load_dataframe, safe_load
from .store import STORE_DIR, STORE_INDEX, read_index, store_problems, write_store

DESCRIPTION = (
    "Tutorial data: read IEEE sentences from the Haskins Production Rate Comparison database "
    "(Tiede et al. 2017), audio at 16 kHz, EMA at 50 Hz, {hidden_states}."
)


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
    """Original frame-states pickle → ``{hidden_state_key: (T, d) float32}``.

    Frame counts are checked against the audio lengths.
    """
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
            arrays[cache.hidden_state_key(int(layer), filename)] = array
    return arrays


def _check_frame_count(array: np.ndarray, n_samples: int, filename: str) -> None:
    expected = n_model_frames(n_samples)
    if array.shape[0] != expected:
        raise DownloadFailed(
            f"{filename}: {array.shape[0]} frames of hidden states but {expected} expected from "
            f"{n_samples} audio samples; the hidden states do not belong to this audio."
        )


def _extracted_hidden_states(
    recordings: pd.DataFrame, model_name: str, quiet: bool, **options: Any
) -> Any:
    """Re-extract hidden states from the audio → ``{hidden_state_key: (T, d) float32}``, or
    with ``stream=True`` an iterator of ``(filename, layers)`` (``options``: also ``device``,
    ``batch_size``)."""
    feature_extractor, model = extract.load_model(model_name)
    pairs = zip(recordings["FILENAME"], recordings["AUDIO"], strict=True)
    stream = options.pop("stream", False)
    options["progress"] = not quiet
    if stream:  # hook (extract branch): --store npy
        return extract.iter_hidden_states(pairs, model, feature_extractor, **options)
    states = extract.extract_hidden_states(pairs, model, feature_extractor, **options)
    return {
        cache.hidden_state_key(layer, name): array
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
    device: str = "auto",
    batch_size: int = extract.DEFAULT_BATCH_SIZE,
    store: str = "npz",
) -> dict[str, dict]:
    """Convert one participant's originals into the cache; returns the new file records."""
    _say(f"Converting {participant} ...", quiet)
    recordings = read_recordings(sources[audio_name(participant)])
    labels = read_labels(sources[labels_name(participant)])
    if frame_states:
        hidden = convert_frame_states(sources[FRAME_STATES_FILES[participant]], recordings)
    else:
        hidden = _extracted_hidden_states(
            recordings, model_name, quiet, device=device, batch_size=batch_size,
            stream=store == "npy",
        )  # fmt: skip
    paths = cache.write_recordings(data_dir, participant, recordings)
    paths.append(cache.write_ema(data_dir, participant, labels))
    if store == "npy":  # hook (extract branch): opt-in corpus store
        paths.append(_write_store(data_dir / participant, hidden, recordings["FILENAME"]))
    else:
        paths.append(cache.write_hidden_states(data_dir, participant, hidden))
    return {p.relative_to(data_dir).as_posix(): file_record(p) for p in paths}


def _write_store(folder: Path, hidden: Any, order: Sequence[str]) -> Path:
    """Hook (extract branch): hidden states, keyed or streamed, into ``<P>/hidden_states/``."""
    if isinstance(hidden, dict):  # {hidden_state_key: array} of the frame-states conversion
        per_file: dict[str, dict[int, np.ndarray]] = {}
        for key, array in hidden.items():
            layer, name = cache.parse_hidden_state_key(key)
            per_file.setdefault(name, {})[layer] = array
        hidden = per_file.items()
    return write_store(folder / STORE_DIR, hidden, order=list(order))


def _store_files(participant: str, store: str) -> list[str]:
    """Hook (extract branch): the participant's cache files, the store index for ``npy``."""
    names = cache.participant_files(participant)
    return names[:-1] + [f"{participant}/{STORE_INDEX}"] if store == "npy" else names


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


def _participant_is_good(
    data_dir: Path, manifest: dict, participant: str, recipe: dict, store: str = "npz"
) -> bool:
    """True when the participant's cache files exist, hash as recorded, from the same inputs."""
    if manifest.get("conversions", {}).get(participant) != recipe:
        return False
    files = manifest.get("files", {})
    for rel in _store_files(participant, store):
        record = files.get(rel)
        if record is None or not _good_download(data_dir / rel, record):
            return False
    if store == "npy":  # hook (extract branch): also every .npy of the store, by sha256
        return not store_problems(data_dir / participant / STORE_DIR, verify_hashes=True)
    return True


def _layers(data_dir: Path, participant: str, store: str = "npz") -> list[int]:
    if store == "npy":  # hook (extract branch)
        return [int(x) for x in read_index(data_dir / participant / STORE_DIR)["layers"]]
    with np.load(data_dir / participant / cache.HIDDEN_STATES_NAME, allow_pickle=False) as npz:
        return sorted({cache.parse_hidden_state_key(k)[0] for k in npz.files})


def run(
    data_dir: str | Path | None = None,
    *,
    from_dir: str | Path | None = None,
    frame_states: bool = False,
    model_name: str = extract.DEFAULT_MODEL,
    participants: Sequence[str] | None = None,
    quiet: bool = False,
    device: str = "auto",
    batch_size: int = extract.DEFAULT_BATCH_SIZE,
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
    device, batch_size
        Where and how many recordings at a time to re-extract (see
        :func:`tutorial_utils.io.extract.extract_hidden_states`).
    store : {"npz", "npy"}, default "npz"
        ``"npy"``: hidden states in the lazily read store of :mod:`tutorial_utils.io.store`.

    Raises
    ------
    DownloadFailed
        With a message for the user (offline, missing files, wrong formats, missing torch).
    """
    data_dir = Path(data_dir) if data_dir is not None else cache.default_data_dir()
    if store not in ("npz", "npy"):
        raise ValueError(f"store must be 'npz' or 'npy', got {store!r}.")
    if frame_states:
        model_name = extract.DEFAULT_MODEL
    else:
        _require_extract()
    manifest = cache.read_manifest(data_dir) or {}
    if manifest.get("format_version") != cache.CACHE_FORMAT_VERSION:
        manifest = {}
    wanted = list(participants or PARTICIPANTS)
    if participants is None and manifest.get("complete") and manifest.get("participants"):
        wanted = list(manifest["participants"])  # a rerun keeps what the last run found
    if participants is None and from_dir is not None:
        wanted = [p for p in wanted if _has_local(Path(from_dir), p)] or wanted
    manifest.update(
        format_version=cache.CACHE_FORMAT_VERSION,
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
            manifest["downloads"][name] = {**file_record(path), "path": str(path)}
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
                write_json(data_dir / cache.MANIFEST_NAME, manifest)
    hidden_origin = "frame_states" if frame_states else f"extracted:{model_name}"
    for p in wanted:
        recipe = {
            "hidden_states": hidden_origin,
            "sources": {
                n: manifest["downloads"][n]["sha256"] for n in source_names(p, frame_states)
            },
            **({"store": store} if store != "npz" else {}),  # hook (extract branch)
        }
        if _participant_is_good(data_dir, manifest, p, recipe, store):
            _say(f"{p}: cache verified, nothing to do.", quiet)
            continue
        manifest["conversions"].pop(p, None)
        records = convert_participant(
            p, sources, data_dir, frame_states=frame_states, model_name=model_name, quiet=quiet,
            device=device, batch_size=batch_size, store=store,
        )  # fmt: skip
        manifest["files"].update(records)
        manifest["conversions"][p] = recipe
        write_json(data_dir / cache.MANIFEST_NAME, manifest)
    keep = {rel for p in wanted for rel in _store_files(p, store)}
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
        hidden_states=hidden_origin,
        layers=_layers(data_dir, wanted[0], store),
        frame_rate_hz=FRAME_RATE_HZ,
        sample_rate=SAMPLE_RATE,
        description=DESCRIPTION.format(hidden_states=described),
        versions=_versions(),
        complete=True,
    )
    write_json(data_dir / cache.MANIFEST_NAME, manifest)
    _say(f"Done: the real data are cached in {data_dir}.", quiet)
    return data_dir


def _has_local(from_dir: Path, participant: str) -> bool:
    try:
        find_local([audio_name(participant), labels_name(participant)], from_dir)
    except DownloadFailed:
        return False
    return True


def _require_extract() -> None:
    try:
        extract.require_torch()
    except ImportError as err:
        raise DownloadFailed(str(err)) from err
