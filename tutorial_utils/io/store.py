"""A corpus-sized store of hidden states: one ``.npy`` per recording, read lazily (memmap).

The default cache keeps a participant's hidden states in one ``hidden_states.npz`` that is
read whole on first use: right for the tutorial's few recordings, not for a corpus larger
than memory. ``python -m tutorial_utils.io --store npy`` writes this store instead::

    <data_dir>/<P>/hidden_states/index.json     layers, and per recording (in order): filename,
                                                file, shape, dtype, size, sha256 of the bytes
    <data_dir>/<P>/hidden_states/<FILENAME>.npy float32 (L, T, d): all L hidden states of
                                                one recording, layer by layer

Every ``.npy`` is written atomically and hashed while it is written; ``index.json`` is
written last (and removed first when a store is rewritten), so a store without it is
incomplete (its schema and checks: :mod:`tutorial_utils.io.store_index`). In a cache the
store lies in the conversion's generation folder (:mod:`tutorial_utils.io.transaction`).
Reading opens each file with ``np.load(mmap_mode="r")`` only when one of its arrays is asked
for, so :func:`iter_recordings` can stream a corpus recording by recording, e.g. into
``tutorial_utils.streaming_cka_matrix``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset import Dataset
from .files import atomic_write, write_json
from .store_index import (
    INDEX_NAME,
    STORE_DIR,
    STORE_FORMAT,
    STORE_INDEX,
    STORE_VERSION,
    read_index,
    store_files,
    store_problems,
)

__all__ = [
    "INDEX_NAME",
    "STORE_DIR",
    "STORE_FORMAT",
    "STORE_INDEX",
    "STORE_VERSION",
    "HiddenStateStore",
    "iter_recordings",
    "open_store",
    "read_index",
    "store_file_name",
    "store_files",
    "store_problems",
    "write_store",
]

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,150}")

LayerArrays = Mapping[int, np.ndarray] | Sequence[np.ndarray]
"""One recording's hidden states: ``{layer: (T, d)}`` or a list indexed by layer."""


def store_file_name(filename: str) -> str:
    """File name of one recording in the store: the filename itself when it is safe."""
    if _SAFE_NAME.fullmatch(filename):
        return f"{filename}.npy"
    digest = hashlib.sha256(filename.encode("utf-8")).hexdigest()[:12]
    return f"_{re.sub(r'[^A-Za-z0-9._-]', '_', filename)[:120]}-{digest}.npy"


def _stack(filename: str, layers: LayerArrays) -> tuple[list[int], np.ndarray]:
    """``(layer indices, (L, T, d) float32)`` of one recording; all layers must agree in shape."""
    if isinstance(layers, Mapping):
        indices = sorted(int(k) for k in layers)
        arrays = [np.asarray(layers[k], dtype=np.float32) for k in sorted(layers, key=int)]
    else:
        indices = list(range(len(layers)))
        arrays = [np.asarray(a, dtype=np.float32) for a in layers]
    shapes = {a.shape for a in arrays}
    if not arrays or len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"{filename}: hidden states must be (T, d) arrays of one shape; {shapes}.")
    return indices, np.stack(arrays)


def _write_recording(folder: Path, filename: str, stacked: np.ndarray) -> dict[str, Any]:
    """Write one recording's ``.npy`` atomically; its index record (sha256 of the bytes)."""
    name = store_file_name(filename)
    record = atomic_write(folder / name, lambda sink: np.save(sink, stacked, allow_pickle=False))
    return {
        "filename": filename,
        "file": name,
        "shape": list(stacked.shape),
        "dtype": str(stacked.dtype),
        **record,
    }


def write_store(
    folder: str | Path,
    recordings: Iterable[tuple[str, LayerArrays]],
    *,
    order: Sequence[str] | None = None,
    records: dict[Path, dict] | None = None,
) -> Path:
    """Write hidden states recording by recording; returns the path of ``index.json``.

    Parameters
    ----------
    folder : path
        The store folder, ``<data_dir>/<P>/hidden_states``.
    recordings : iterable of (filename, layers)
        Consumed one at a time (e.g. :func:`tutorial_utils.io.extract.iter_hidden_states`),
        so only one recording is in memory. ``layers``: ``{layer: (T, d)}`` or a list by layer.
    order : sequence of str, optional
        Order of the recordings in the index (e.g. the recordings table); default: as written.
    records : dict, optional
        Receives ``{index path: {"sha256", "size"}}`` of the index as written (for a manifest).
    """
    folder = Path(folder)
    (folder / INDEX_NAME).unlink(missing_ok=True)  # incomplete until the new index is written
    written: dict[str, dict[str, Any]] = {}
    layers: list[int] | None = None
    for filename, states in recordings:
        indices, stacked = _stack(str(filename), states)
        if layers is not None and indices != layers:
            raise ValueError(f"{filename} has the layers {indices}, the others {layers}.")
        if str(filename) in written:
            raise ValueError(f"{filename} was given twice.")
        layers = indices
        written[str(filename)] = _write_recording(folder, str(filename), stacked)
    if layers is None:
        raise ValueError("No recordings to write into the hidden-state store.")
    rank = {name: i for i, name in enumerate(order or [])}
    ordered = sorted(written, key=lambda name: rank.get(name, len(rank)))
    index = {"format": STORE_FORMAT, "version": STORE_VERSION, "layers": layers}
    index["recordings"] = [written[name] for name in ordered]  # a list: json sorts dict keys
    path = folder / INDEX_NAME
    index_record = write_json(path, index)
    if records is not None:
        records[path] = index_record
    keep = {record["file"] for record in written.values()}
    for stale in folder.glob("*.npy"):
        if stale.name not in keep:
            stale.unlink()
    return path


class _LayerView(Mapping[str, np.ndarray]):
    """``{filename: (T, d)}`` of one layer; each value is a read-only memmap, made on access."""

    def __init__(self, store: HiddenStateStore, position: int) -> None:
        self._store = store
        self._position = position

    def __getitem__(self, filename: str) -> np.ndarray:
        return self._store.recording(filename)[self._position]

    def __contains__(self, filename: object) -> bool:
        return filename in self._store.filenames

    def __iter__(self) -> Iterator[str]:
        return iter(self._store.filenames)

    def __len__(self) -> int:
        return len(self._store.filenames)


class HiddenStateStore(Mapping[int, Mapping[str, np.ndarray]]):
    """Lazy ``{layer: {filename: (T, d) float32}}`` over a store folder (see module docs).

    Nothing is read until an array is indexed; then only that recording's file is mapped.
    ``damaged(message)``, when given, makes the exception raised for a file that cannot be
    mapped or does not match its record (default: the ``OSError`` or ``ValueError`` itself).
    """

    def __init__(
        self,
        folder: str | Path,
        index: Mapping[str, Any],
        damaged: Callable[[str], Exception] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.damaged = damaged
        self.layers = [int(layer) for layer in index["layers"]]
        self._records = {record["filename"]: record for record in index["recordings"]}
        self.filenames = list(self._records)
        self._positions = {layer: i for i, layer in enumerate(self.layers)}
        self._last: tuple[str, np.ndarray] | None = None

    def recording(self, filename: str) -> np.ndarray:
        """All hidden states of one recording, ``(L, T, d)``, as a read-only memmap."""
        if self._last is not None and self._last[0] == filename:
            return self._last[1]
        record = self._records[filename]
        try:
            array = np.load(self.folder / record["file"], mmap_mode="r", allow_pickle=False)
            if list(array.shape) != record["shape"] or str(array.dtype) != record["dtype"]:
                raise ValueError(
                    f"{record['file']} holds {array.dtype} {array.shape}, the index says "
                    f"{record['dtype']} {tuple(record['shape'])}; rerun the conversion."
                )
        except (OSError, ValueError) as err:
            if self.damaged is None:
                raise
            raise self.damaged(f"{record['file']}: {err}") from err
        self._last = (filename, array)
        return array

    def __getitem__(self, layer: int) -> Mapping[str, np.ndarray]:
        return _LayerView(self, self._positions[int(layer)])

    def __iter__(self) -> Iterator[int]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        return f"<HiddenStateStore {self.folder}: {len(self.filenames)} recordings, {self.layers}>"


def open_store(
    folder: str | Path,
    verify_hashes: bool = False,
    damaged: Callable[[str], Exception] | None = None,
) -> HiddenStateStore:
    """Open a store folder lazily (checks every file's size, and sha256 if asked);
    ``damaged``: see :class:`HiddenStateStore`."""
    problems = store_problems(folder, verify_hashes)
    if problems:
        raise FileNotFoundError(
            f"The hidden-state store in {folder} is incomplete ({'; '.join(problems[:3])}); "
            "rerun `python -m tutorial_utils.io --store npy`."
        )
    return HiddenStateStore(folder, read_index(folder), damaged)


def iter_recordings(
    dataset: Dataset, participant: str, layers: Iterable[int] | None = None
) -> Iterator[dict[int, np.ndarray]]:
    """Yield ``{layer: (T, d)}`` for each recording of ``participant`` that has hidden states.

    One step per recording, every layer of it, in recording order: the ``chunks`` that
    ``tutorial_utils.streaming_cka_matrix`` accumulates. With the ``npy`` store the arrays are
    read-only memmaps of one file, so memory stays at about one recording; with the default
    ``hidden_states.npz`` they are the in-memory arrays.

    Parameters
    ----------
    dataset : Dataset
    participant : str
    layers : iterable of int, optional
        Default: all of ``dataset.layers``.
    """
    wanted = dataset.layers if layers is None else [int(layer) for layer in layers]
    for filename in dataset.filenames(participant, with_hidden_states=True):
        yield {layer: dataset.hidden_state(participant, layer, filename) for layer in wanted}
