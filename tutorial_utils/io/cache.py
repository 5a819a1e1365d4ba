"""The real-data cache (no pickles): ``manifest.json`` names the current ``cache-<id>/`` and each
file's sha256, checked before the file is read; ``cache-<id>/<P>/`` holds the :data:`FILES`;
``downloads/`` keeps the originals; ``.lock`` serialises conversions."""

import contextlib
import functools
import itertools
import json
import os
import secrets
import shutil
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import platformdirs
import pooch

APP, COMMAND = "speech-cka-tutorial", "python -m tutorial_utils.io"
MANIFEST, FORMAT = "manifest.json", 4
FILES = ("recordings.csv", "audio.npz", "ema.csv", "hidden_states.npz")
RECORDINGS, AUDIO, EMA, STATES = FILES
TODO = "add {}'s originals to --from-dir, or choose another --data-dir."


class CacheUnusable(FileNotFoundError):
    """The real-data cache is missing, incomplete or damaged (the message says what to do)."""


class CacheUnreadable(ValueError):
    """The cache cannot be read now, or is of a newer format: never replaced."""


def pointer_file() -> Path:
    """Where the data command records the last cache it completed (the user's config folder)."""
    return platformdirs.user_config_path(APP) / "data_dir"


def remember_data_dir(data_dir: str | os.PathLike) -> Path:
    """Record ``data_dir`` (absolute) in :func:`pointer_file`; returns the record's path."""
    atomic_write(pointer := pointer_file(), f"{Path(data_dir).expanduser().resolve()}\n".encode())
    return pointer


def find_data_dir() -> tuple[Path, str]:
    """The default cache directory and its origin: ``$TUTORIAL_DATA_DIR`` ("env"), the record
    ("pointer"), ``data/`` in a source checkout ("checkout"), else the user cache ("user")."""
    if os.environ.get("TUTORIAL_DATA_DIR", "").strip():  # (a blank one: unset)
        return Path(os.environ["TUTORIAL_DATA_DIR"]).expanduser(), "env"
    with contextlib.suppress(OSError, ValueError):  # read exactly: a name may end in spaces
        recorded = pointer_file().read_text(encoding="utf-8").removesuffix("\n")
        if Path(recorded).is_absolute() and not {"\0", "\n"} & set(recorded):
            return Path(recorded), "pointer"
        warnings.warn(f"{pointer_file()} holds no folder's path: ignored.", stacklevel=2)
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file():
        return repo / "data", "checkout"
    return platformdirs.user_cache_path(APP), "user"


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` beside ``path``, then rename it over ``path`` (readers never see a part)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def hidden_state_key(layer: int, filename: str) -> str:
    """Key of one recording's layer in ``hidden_states.npz``: ``L{layer}__{filename}``."""
    return f"L{int(layer)}__{filename}"


def _key_parts(key: str) -> tuple[int, str]:  # (layer, filename) of a hidden_state_key
    layer, _, filename = key[1:].partition("__")
    return int(layer), filename


def write_cache(data_dir: str | os.PathLike, participants: Iterable[tuple[str, tuple]],
                **fields: Any) -> dict:  # fmt: skip
    """Write ``(p, (recordings, ema, {hidden_state_key: (T, d) float32}))`` as a new generation
    (with the old one's participants of the same ``hidden_states`` not replaced), then switch to it
    by renaming a new manifest (``fields`` added; returned) over the old; on failure: removed."""
    data_dir, generation = Path(data_dir), f"cache-{secrets.token_hex(6)}"
    names, layers, old = [], {}, {}
    with contextlib.suppress(CacheUnusable):  # (CacheUnreadable: never replaced)
        old = read_manifest(data_dir)
    sweep = (data_dir / MANIFEST).exists()  # (reported missing, e.g. by Drive: keep cache-*)
    try:
        for p, (recordings, ema, states) in participants:
            (folder := data_dir / generation / p).mkdir(parents=True)
            recordings[["FILENAME", "SENTENCE"]].to_csv(folder / RECORDINGS, index=False)
            ema.to_csv(folder / EMA, index=False)
            audio = dict(zip(recordings.FILENAME, recordings.AUDIO, strict=True))
            np.savez(folder / AUDIO, **audio)
            np.savez(folder / STATES, **states)
            layers[p] = tuple(sorted({_key_parts(key)[0] for key in states}))
            names.append(p)
        same = old.get("hidden_states") == fields.get("hidden_states")
        for p in (kept := [p for p in old.get("participants", []) if same and p not in names]):
            try:  # (CacheUnreadable, a file unreadable for a moment: refused, nothing changed)
                paths = [_checked(data_dir, old, p, n) for n in FILES]
                layers[p] = tuple(old["layers"])
            except (CacheUnusable, KeyError, TypeError) as err:
                why = getattr(err, "why", repr(err))
                raise ValueError(f"{data_dir} also holds {p}, which cannot be kept ({why}): "
                                 + TODO.format(p)) from None  # fmt: skip
            (folder := data_dir / generation / p).mkdir(parents=True)
            for path in paths:
                shutil.copyfile(path, folder / path.name)
        names = sorted(names + kept, key=[*old.get("participants", []), *names].index)
        if len(set(layers.values())) != 1:
            has = "; ".join(f"{'kept ' * (p in kept)}{p}: {list(v)}" for p, v in layers.items())
            todo = TODO.format(", ".join(kept)) if kept else "convert them alike."
            raise ValueError(f"The hidden states have different layers ({has}): {todo}")
        manifest = {**fields, "format_version": FORMAT, "generation": generation}
        rels = (f"{generation}/{p}/{n}" for p in names for n in FILES)
        files = {rel: pooch.file_hash(str(data_dir / rel)) for rel in rels}
        manifest |= {"participants": names, "layers": [*layers[names[0]]], "files": files}
        atomic_write(data_dir / MANIFEST, json.dumps(manifest, indent=1).encode())  # the switch
    except BaseException:
        shutil.rmtree(data_dir / generation, ignore_errors=True)
        raise
    for path in data_dir.glob("cache-*"):  # earlier generations, and what killed runs left
        if sweep and path.name != generation:
            shutil.rmtree(path, ignore_errors=True)
    return manifest


def check_inside(data_dir: Path) -> None:
    """ValueError if what a conversion writes or deletes in ``data_dir`` leads out of it."""
    root = os.path.realpath(data_dir)  # (never raises, unlike resolve() on a loop)
    for top in [MANIFEST, ".lock", "downloads", *(p.name for p in data_dir.glob("cache-*"))]:
        below = (Path(d, n) for d, dirs, files in os.walk(data_dir / top) for n in dirs + files)
        for path in itertools.chain([data_dir / top], below):
            if not Path(target := os.path.realpath(path)).is_relative_to(root):
                raise ValueError(f"{path} leads outside the data folder {data_dir}, to {target}: "
                                 "remove the link (the data command never writes there), or "
                                 "choose another --data-dir.")  # fmt: skip


def _unusable(data_dir: Path, why: str) -> CacheUnusable:
    (err := CacheUnusable(f"The real-data cache in {data_dir} is missing, incomplete or damaged "
                          f"({why}). Run `{COMMAND} --data-dir {data_dir}` (add `--from-dir "
                          "PATH` if you already have the files), or use "
                          "load_dataset('sample').")).why = why  # fmt: skip
    return err


def _unreadable(path: Path, err: OSError) -> CacheUnreadable:  # e.g. a Drive mount, for a moment
    why = f"Could not read {path} ({err.strerror or err})"
    return CacheUnreadable(f"{why}; nothing was changed. Retry in a moment.")


def read_manifest(data_dir: str | os.PathLike) -> dict:
    """The manifest of a cache directory (of this format), else :class:`CacheUnusable`, or
    :class:`CacheUnreadable` (unreadable now, or newer); each file it names is checked when read."""
    data_dir, version = Path(data_dir), None
    try:
        manifest = json.loads((data_dir / MANIFEST).read_text(encoding="utf-8"))
        version, names = manifest.get("format_version"), manifest.get("participants")
        if version == FORMAT and names and names == [Path(p).name for p in names if p.strip(".")]:
            return manifest
    except FileNotFoundError:
        raise _unusable(data_dir, f"there is no {MANIFEST}") from None
    except OSError as err:
        raise _unreadable(data_dir / MANIFEST, err) from None
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    if isinstance(version, int) and version > FORMAT:
        raise CacheUnreadable(f"The cache in {data_dir} was written by a newer version of "
                              f"tutorial_utils (format {version}, not {FORMAT}): update the "
                              "package, or choose another data folder.")  # fmt: skip
    raise _unusable(data_dir, f"{MANIFEST} is not a manifest of this version")


def _checked(data_dir: Path, manifest: dict, participant: str, name: str) -> Path:
    """The path of one cache file, after checking its sha256 (then reading it cannot fail)."""
    rel = f"{manifest['generation']}/{participant}/{name}"
    try:
        if pooch.file_hash(str(data_dir / rel)) == manifest["files"][rel]:
            return data_dir / rel
        why = f"{rel} is not the file that was written (another sha256)"
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, KeyError, TypeError) as err:
        why = f"{type(err).__name__}: {err}"
    except OSError as err:
        raise _unreadable(data_dir / rel, err) from None
    with contextlib.suppress(CacheUnusable, CacheUnreadable):  # replaced by a conversion since?
        why = why if read_manifest(data_dir).get("generation") == manifest.get("generation") else ""
    if why:
        raise _unusable(data_dir, why)
    raise CacheUnusable(f"The real-data cache in {data_dir} was replaced by a newer conversion "
                        "since it was read: load it again with load_dataset().")  # fmt: skip


def _states(path: Callable[[str], Path]) -> dict[int, dict[str, np.ndarray]]:
    states: dict[int, dict[str, np.ndarray]] = {}
    with np.load(path(STATES), allow_pickle=False) as npz:
        for layer, filename in map(_key_parts, npz.files):
            states.setdefault(layer, {})[filename] = npz[hidden_state_key(layer, filename)]
    return dict(sorted(states.items()))


def verify(data_dir: str | os.PathLike) -> dict:
    """The manifest, after checking every file's sha256 (else :class:`CacheUnusable`)."""
    manifest = read_manifest(data_dir := Path(data_dir))
    for p, name in itertools.product(manifest["participants"], FILES):
        _checked(data_dir, manifest, p, name)
    return manifest


def read_cache(data_dir: str | os.PathLike) -> dict[str, Any]:
    """``{"manifest", "recordings", "ema", "hidden_states"}``, the last three per participant
    (hidden states: a function reading them on first use), else :class:`CacheUnusable`."""
    manifest = read_manifest(data_dir := Path(data_dir))
    tables: dict[str, dict] = {"recordings": {}, "ema": {}, "hidden_states": {}}
    text = {"FILENAME": str, "SENTENCE": str}
    for p in manifest["participants"]:
        path = functools.partial(_checked, data_dir, manifest, p)
        recordings = pd.read_csv(path(RECORDINGS), dtype=text, keep_default_na=False)
        with np.load(path(AUDIO), allow_pickle=False) as audio:
            recordings.insert(2, "AUDIO", [audio[name] for name in recordings.FILENAME])
        tables["recordings"][p] = recordings
        tables["ema"][p] = pd.read_csv(path(EMA), dtype=text, keep_default_na=False)
        tables["hidden_states"][p] = functools.partial(_states, path)
    return {"manifest": manifest, **tables}


def iter_recordings(data_dir: str | os.PathLike, participant: str) -> Iterator[dict]:
    """One participant's hidden states ``{layer: (T, d)}``, one recording at a time (streamed)."""
    manifest = read_manifest(data_dir := Path(data_dir))
    with np.load(_checked(data_dir, manifest, participant, STATES), allow_pickle=False) as npz:
        for filename in dict.fromkeys(_key_parts(key)[1] for key in npz.files):
            yield {layer: npz[hidden_state_key(layer, filename)] for layer in manifest["layers"]}
