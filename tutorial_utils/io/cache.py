"""The real-data cache: where it lives, how it is written and read back (no pickles).

A cache directory holds ``manifest.json`` (the current generation, participants, every file's
sha256), ``cache-<id>/<P>/`` (recordings.csv, audio.npz, ema.csv, hidden_states.npz),
``downloads/`` (the originals) and ``.lock``. :func:`write_cache` builds a new ``cache-<id>/``
beside the current one and switches to it by renaming a new ``manifest.json`` over the old
one, so readers see the previous cache whole until then. Reading checks sizes and the csv
files' sha256 (every file's with ``verify``), opens npz files with ``allow_pickle=False`` and
returns plain tables.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import platformdirs

from ..frames import EMA_TABLE_COLUMNS, SAMPLE_RATE
from . import validate

APP = "speech-cka-tutorial"
DOWNLOAD_HINT = "python -m tutorial_utils.io"
CACHE_FORMAT_VERSION = 2
MANIFEST_NAME = "manifest.json"
RECORDINGS, AUDIO, EMA, STATES = "recordings.csv", "audio.npz", "ema.csv", "hidden_states.npz"
GENERATION = re.compile(r"cache-[0-9a-f]{12}")
_TEMP = re.compile(r"\.manifest\.json\.\w+\.tmp")
_READ_ERRORS = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile)


class CacheUnusable(FileNotFoundError):
    """The real-data cache is missing, incomplete or damaged (the message says what to do)."""


def pointer_file() -> Path:
    """Where the data command records the last cache it completed (the user's config folder)."""
    return platformdirs.user_config_path(APP) / "data_dir"


def remember_data_dir(data_dir: str | os.PathLike) -> Path:
    """Record ``data_dir`` (absolute) in :func:`pointer_file`; returns the record's path."""
    pointer = pointer_file()
    pointer.parent.mkdir(parents=True, exist_ok=True)
    pointer.write_text(f"{Path(data_dir).expanduser().resolve()}\n")
    return pointer


def find_data_dir() -> tuple[Path, str]:
    """The default cache directory and its origin: ``$TUTORIAL_DATA_DIR`` (``"env"``), the
    record (``"pointer"``), ``data/`` in a source checkout (``"checkout"``), else the user's
    cache folder (``"user"``)."""
    if os.environ.get("TUTORIAL_DATA_DIR"):
        return Path(os.environ["TUTORIAL_DATA_DIR"]).expanduser(), "env"
    try:
        if recorded := pointer_file().read_text().strip():
            return Path(recorded), "pointer"
    except (OSError, UnicodeDecodeError):
        pass
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file():
        return repo / "data", "checkout"
    return platformdirs.user_cache_path(APP), "user"


def default_data_dir() -> Path:
    """The cache directory used when none is given (see :func:`find_data_dir`)."""
    return find_data_dir()[0]


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path: Path, data: bytes | Callable[[Any], Any]) -> dict[str, Any]:
    """Write ``data`` (or ``data(file)``) to a temporary file beside ``path``, then rename it
    to ``path``; returns ``{"sha256", "size"}`` of the bytes written. Nothing is left on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            data(handle) if callable(data) else handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        record = {"sha256": sha256_file(tmp), "size": os.path.getsize(tmp)}
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return record


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Atomically write float32 arrays as an uncompressed npz (no pickles); returns its record."""
    plain = {key: np.asarray(value, np.float32) for key, value in arrays.items()}
    return atomic_write(path, lambda handle: np.savez(handle, **plain))


def hidden_state_key(layer: int, filename: str) -> str:
    """Key of one recording's layer in ``hidden_states.npz``: ``L{layer}__{filename}``."""
    return f"L{int(layer)}__{filename}"


def _write_participant(folder: Path, recordings, ema, states) -> dict[str, dict]:
    pairs = zip(recordings.FILENAME, recordings.AUDIO, strict=True)
    audio = {name: np.asarray(values, np.float32) for name, values in pairs}
    table = pd.DataFrame({"FILENAME": list(audio), "SENTENCE": recordings.SENTENCE.astype(str)})
    table["N_SAMPLES"], table["SAMPLE_RATE"] = [a.size for a in audio.values()], SAMPLE_RATE
    csv = {
        n: t.to_csv(index=False, lineterminator="\n").encode()
        for n, t in ((RECORDINGS, table), (EMA, ema))
    }
    records = {name: atomic_write(folder / name, text) for name, text in csv.items()}
    return {
        **records,
        AUDIO: write_npz(folder / AUDIO, audio),
        STATES: write_npz(folder / STATES, states),
    }


def write_cache(
    data_dir: str | os.PathLike, participants: Iterable[tuple[str, tuple]], **fields
) -> dict:
    """Write a complete cache beside the current one and switch to it with one rename.

    ``participants`` yields ``(participant, (recordings, ema, {hidden_state_key: (T, d)}))``,
    written one at a time; ``fields`` go into the manifest, which is returned. On any failure
    the new folder is removed and the previous cache stays current. Hold the folder's lock.
    """
    data_dir, generation = Path(data_dir), f"cache-{secrets.token_hex(6)}"
    files, names = {}, []
    try:
        (data_dir / generation).mkdir(parents=True)
        for p, tables in participants:
            names.append(validate.check_participant(p, "participant"))
            written = _write_participant(data_dir / generation / p, *tables)
            files.update({f"{generation}/{p}/{n}": record for n, record in written.items()})
        layers = {tuple(_layers(data_dir / rel)) for rel in files if rel.endswith(STATES)}
        if len(layers) != 1:
            raise ValueError(f"the participants' hidden states have different layers {layers}")
        manifest = {**fields, "format_version": CACHE_FORMAT_VERSION, "complete": True,
                    "generation": generation, "participants": names, "files": files,
                    "layers": list(layers.pop())}  # fmt: skip
        atomic_write(data_dir / MANIFEST_NAME, json.dumps(manifest, indent=1).encode())  # switch
    except BaseException:
        shutil.rmtree(data_dir / generation, ignore_errors=True)
        raise
    sweep(data_dir, generation)
    return manifest


def sweep(data_dir: Path, current: str | None = None) -> None:
    """Remove generations other than ``current`` and temporary manifests (hold the lock)."""
    for path in data_dir.iterdir() if data_dir.is_dir() else []:
        if GENERATION.fullmatch(path.name) and path.name != current:
            shutil.rmtree(path, ignore_errors=True)
        elif _TEMP.fullmatch(path.name):
            path.unlink(missing_ok=True)


def _unusable(data_dir: Path, why: str) -> CacheUnusable:
    return CacheUnusable(
        f"The real-data cache in {data_dir} is missing, incomplete or damaged ({why}). Run "
        f"`{DOWNLOAD_HINT}` (add `--data-dir {data_dir}` for this directory, or `--from-dir "
        "PATH` if you already have the files), or use load_dataset('sample')."
    )


def read_manifest(data_dir: Path) -> dict[str, Any]:
    """The manifest of a cache directory, its structure checked, or :class:`CacheUnusable`."""
    try:
        manifest = json.loads((data_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _unusable(data_dir, "there is no manifest.json") from None
    except (OSError, ValueError):
        raise _unusable(data_dir, "there is no readable manifest.json") from None
    get = manifest.get if isinstance(manifest, dict) else {}.get
    people = get("participants") if isinstance(get("participants"), list) else []
    ids = all(validate.PARTICIPANT_PATTERN.fullmatch(str(p)) for p in people)
    checks = [
        (get("format_version") == CACHE_FORMAT_VERSION, f"cache format {get('format_version')}"),
        (get("complete") is True, "its conversion did not finish"),
        (GENERATION.fullmatch(str(get("generation"))), f"generation {get('generation')!r}"),
        (people, "the manifest lists no participants"),
        (ids, f"invalid participants {people}"),
        (isinstance(get("files"), dict), "the manifest's files are not a mapping"),
    ]
    for ok, why in checks:
        if not ok:
            raise _unusable(data_dir, why)
    return manifest


def cache_problems(data_dir: Path, manifest: dict, verify: bool = False) -> list[str]:
    """What is missing or wrong in a cache's files (sizes; the sha256 of the csv files, or of
    every file with ``verify``)."""
    problems = []
    for p in manifest["participants"]:
        for name in (RECORDINGS, AUDIO, EMA, STATES):
            rel = f"{manifest['generation']}/{p}/{name}"
            record, path = manifest["files"].get(rel), data_dir / rel
            if not isinstance(record, dict):
                problems.append(f"{rel} is not listed")
            elif not path.is_file() or path.stat().st_size != record.get("size"):
                problems.append(f"{rel} is missing or has the wrong size")
            elif (verify or name.endswith(".csv")) and sha256_file(path) != record.get("sha256"):
                problems.append(f"{rel} has a wrong sha256")
    return problems


def _keys(names: Iterable[str]) -> list[tuple[int, str]]:
    """``(layer, filename)`` of ``hidden_states.npz`` keys (``L{layer}__{filename}``)."""
    parsed = [(key, *key.partition("__")) for key in names]
    if any(not (s and h[:1] == "L" and h[1:].isdigit() and f) for _, h, s, f in parsed):
        raise ValueError("it has keys that are not of the form 'L<layer>__<filename>'")
    return [(int(h[1:]), f) for _, h, _, f in parsed]


def _layers(path: Path, filenames: Iterable[str] | None = None) -> list[int]:
    """The layers in a ``hidden_states.npz`` (from its zip directory), keys checked."""
    with zipfile.ZipFile(path) as archive:
        keys = _keys(n.removesuffix(".npy") for n in archive.namelist())
    if filenames is not None and {f for _, f in keys} - set(filenames):
        raise ValueError("it holds states of unknown recordings")
    return sorted({layer for layer, _ in keys})


def read_hidden_states(path: Path, data_dir: Path) -> dict[int, dict[str, np.ndarray]]:
    """``{layer: {filename: (T, d) float32}}`` from a cache's ``hidden_states.npz``."""
    states: dict[int, dict[str, np.ndarray]] = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            for key, (layer, filename) in zip(npz.files, _keys(npz.files), strict=True):
                states.setdefault(layer, {})[filename] = npz[key]
    except _READ_ERRORS as err:
        raise _unusable(data_dir, f"{path.relative_to(data_dir)}: {err}") from err
    return dict(sorted(states.items()))


def _read_participant(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[int]]:
    text = {"FILENAME": str, "SENTENCE": str}
    table = pd.read_csv(folder / RECORDINGS, dtype=text, keep_default_na=False)
    names = table["FILENAME"].tolist()
    with np.load(folder / AUDIO, allow_pickle=False) as npz:
        if sorted(npz.files) != sorted(names):
            raise ValueError(f"{AUDIO} does not hold exactly the recordings of {RECORDINGS}")
        audio = [npz[name] for name in names]
    if any(
        a.dtype != np.float32 or a.shape != (n,)
        for a, n in zip(audio, table.N_SAMPLES, strict=True)
    ):
        raise ValueError(f"{AUDIO} holds arrays of other types or lengths than {RECORDINGS}")
    table.insert(2, "AUDIO", audio)
    ema = pd.read_csv(folder / EMA, dtype=text, keep_default_na=False)
    if tuple(ema.columns) != EMA_TABLE_COLUMNS:
        raise ValueError(f"{EMA} has the columns {list(ema.columns)}")
    try:
        return table, ema, _layers(folder / STATES, names)
    except _READ_ERRORS as err:
        raise ValueError(f"{STATES}: {err}") from err


def read_cache(data_dir: str | os.PathLike, verify_hashes: bool = False) -> dict[str, Any]:
    """The cache as plain tables: ``{"manifest", "recordings", "ema", "hidden_states"}``, the
    last three per participant (hidden states: a callable reading them on first use).

    Raises
    ------
    CacheUnusable
        A ``FileNotFoundError`` naming the problem and the command that fixes it.
    """
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    problems = cache_problems(data_dir, manifest, verify=verify_hashes)
    if problems:
        raise _unusable(data_dir, "; ".join(problems[:3]))
    tables: dict[str, dict] = {"recordings": {}, "ema": {}, "hidden_states": {}}
    for p in manifest["participants"]:
        folder = data_dir / manifest["generation"] / p
        try:
            recordings, ema, layers = _read_participant(folder)
        except _READ_ERRORS as err:
            if read_manifest(data_dir)["generation"] != manifest["generation"]:
                return read_cache(data_dir, verify_hashes)  # a conversion switched meanwhile
            raise _unusable(data_dir, f"{folder.relative_to(data_dir)}: {err}") from err
        if layers != manifest.get("layers", layers):
            raise _unusable(data_dir, f"{p}'s hidden states lack layers of the manifest")
        tables["recordings"][p], tables["ema"][p] = recordings, ema
        tables["hidden_states"][p] = functools.partial(
            read_hidden_states, folder / STATES, data_dir
        )
    return {"manifest": manifest, **tables}


def iter_recordings(data_dir: str | os.PathLike, participant: str) -> Iterator[dict]:
    """One participant's hidden states ``{layer: (T, d)}``, one recording at a time, read from
    the cache's npz without loading the others (for corpora larger than memory)."""
    manifest = read_manifest(Path(data_dir))
    folder = Path(data_dir) / manifest["generation"] / validate.check_participant(participant)
    with np.load(folder / STATES, allow_pickle=False) as npz:
        for filename in dict.fromkeys(f for _, f in _keys(npz.files)):
            yield {layer: npz[hidden_state_key(layer, filename)] for layer in manifest["layers"]}
