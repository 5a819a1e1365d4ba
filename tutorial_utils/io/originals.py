"""The original files, read into plain tables and checked once, where they enter the cache.
Pickles go through a restricted unpickler (:func:`load`): the globals of :data:`ALLOWED` only,
each allocation charged to a :class:`Budget` first, torch tensors read without torch."""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import math
import os
import pickle
import re
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from ..frames import EMA_COLUMNS, EMA_TABLE_COLUMNS, FRAME_LENGTH, n_model_frames
from .cache import hidden_state_key

_TORCH = "Float:f4 Double:f8 Half:f2 Long:i8 Int:i4 Short:i2 Char:i1 Byte:u1 Bool:?"
STORAGES = {f"{k}Storage": v for k, v in (s.split(":") for s in _TORCH.split())}  # numpy dtypes
ALIASES = dict.fromkeys(("Int64Index", "UInt64Index", "Float64Index"), "Index")
ALIASES["new_block"] = "_unpickle_block"  # (the names of older pandas)


class UnsafePickle(ValueError):
    """A pickle asked for a global, call, state or memory that is refused (nothing ran)."""


class Budget:
    """Bytes the objects made from one file may allocate: 4 x its size + 16 MiB."""

    def __init__(self, size: int) -> None:
        self.size, self.limit, self.used = size, 4 * size + (16 << 20), 0

    def charge(self, what: str, shape: Any, itemsize: int = 1) -> int:
        """Count the bytes of an array of ``shape`` (returned), or raise :class:`UnsafePickle`."""
        if type(shape) is not tuple or not all(type(d) is int and d >= 0 for d in shape):
            raise UnsafePickle(f"Invalid shape {shape!r} in the pickle.")
        if (nbytes := math.prod(shape) * itemsize) + self.used > self.limit:
            raise UnsafePickle(f"{what} would allocate {nbytes:,} bytes, more than a file of "
                               f"{self.size:,} bytes may make ({self.limit:,}: 4 x its size + 16 "
                               "MiB); nothing was allocated.")  # fmt: skip
        self.used += nbytes
        return nbytes


def _real(key: str) -> Any:
    core = "numpy.core" if np.__version__ < "2" else "numpy._core"  # numpy 1 or 2
    module, _, name = key.replace("numpy._core", core).rpartition(".")
    return getattr(importlib.import_module(module), name)


class Storage(np.ndarray):
    """A torch storage: its ``numel`` elements of ``dtype`` in ``data``, as a flat array."""

    def __new__(cls, data: bytes, dtype: str, numel: int) -> Storage:
        if len(data) != numel * np.dtype(dtype).itemsize:
            raise ValueError(f"A torch storage is truncated ({len(data)} bytes for {numel}).")
        return np.frombuffer(data, "<" + dtype).view(cls)


def _rebuild_tensor(u: Unpickler, storage: Any, offset: Any, size: Any, stride: Any, *_: Any):
    """A numpy copy of just the tensor's own elements (charged before it is made)."""
    if not (type(storage) is Storage and type(offset) is int and type(stride) is tuple):
        raise UnsafePickle("A torch tensor in the pickle is not made of a storage and ints.")
    u.budget.charge(f"A tensor of shape {size}", size, storage.itemsize)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if min(offset, *stride, 0) < 0 or (0 not in size and last >= storage.size):
        raise ValueError(f"Invalid tensor geometry: size {size}, stride {stride}, offset {offset}.")
    strides = tuple(s * storage.itemsize for s in stride)
    view = np.lib.stride_tricks.as_strided(storage[offset:], size, strides, writeable=False)
    return np.array(view, dtype=storage.dtype.newbyteorder("="), order="C")


def _storage_from_bytes(u: Unpickler, data: Any) -> Storage:
    """A legacy ``torch.save`` stream: 3 header pickles, the storage, its key, its data."""
    if u.fetch is not None:
        raise ValueError("A torch stream is nested inside another one; the file is corrupt.")
    f, found = io.BytesIO(data), {}  # the data comes after the pickles: note what they name
    stream = Unpickler(f, u.budget, lambda *pid: found.setdefault(pid, pid))
    *_, obj, keys = [stream.load() for _ in range(5)]
    if [*found] != [obj] or keys != [obj[0]] or int.from_bytes(f.read(8), "little") != obj[2]:
        raise ValueError("The torch stream does not hold one storage.")
    return Storage(f.read(obj[2] * np.dtype(obj[1]).itemsize), obj[1], obj[2])


_ARRAYS, _OPT = (np.ndarray, pd.api.extensions.ExtensionArray), (int, float, str, type(None))
# the globals a pickle may name -> None (a class: only a value), the types (in a list: the values)
# of a function's arguments, or (torch) a stand-in ``f(unpickler, *args)``
ALLOWED: dict[str, Any] = {
    **dict.fromkeys("numpy.ndarray pandas.DataFrame pandas.RangeIndex pandas.Index".split()),
    "pandas.arrays.StringArray": None,
    "numpy._core.multiarray._reconstruct": ([np.ndarray], [(0,)], [b"b"]),  # empty
    "numpy._core.numeric._frombuffer": ((bytes, bytearray), np.dtype, tuple, str),  # a view
    "numpy.dtype": (str, bool, bool),
    "pandas._libs.internals._unpickle_block": (_ARRAYS, (slice, np.ndarray), int),
    "pandas._libs.arrays.__pyx_unpickle_NDArrayBacked": ([pd.arrays.StringArray], int, [None]),
    "pandas.StringDtype": (_OPT, _OPT),
    "pandas.core.indexes.base._new_Index": ([pd.Index, pd.RangeIndex], dict),
    "pandas.core.internals.managers.BlockManager": ((tuple, list), list, bool),
    "builtins.slice": ((int, type(None)),) * 3,
    "collections.OrderedDict": (),
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch.storage._load_from_bytes": _storage_from_bytes,
}


class _Call(str):
    """What :meth:`Unpickler.find_class` returns for a function: only ``REDUCE`` calls it."""


class _Memo(dict):
    """Memo that forgets storages and large bytes: a genuine file never refers back to them."""

    def __setitem__(self, key: int, value: Any) -> None:
        items = value if type(value) is tuple else (value,)  # e.g. the arguments of a call
        big = any(type(v) is Storage or type(v) is bytes and len(v) > 65536 for v in items)
        super().__setitem__(key, _Memo if big else value)

    def __getitem__(self, key: int) -> Any:
        if (value := super().__getitem__(key)) is _Memo:
            raise ValueError("The pickle reuses a large torch storage; convert it with torch.")
        return value


class Unpickler(pickle._Unpickler):
    """Checks every opcode that calls, creates or changes an object; ``fetch`` reads storages."""

    def __init__(self, file: IO[bytes], budget: Budget, fetch: Any = None) -> None:
        super().__init__(file)
        self.budget, self.fetch, self.memo = budget, fetch, _Memo() if fetch is None else {}
        limit, charge = budget.limit, budget.charge  # a declared length over the limit: refused
        self._file_read = lambda n: file.read(n if n <= limit else charge("A read", (n,)))

    def find_class(self, module: str, name: str) -> Any:
        """The allowed global of that name and package (never importing the module named)."""
        if self.proto < 3 and self.fetch is None:  # (torch's own streams are protocol 2)
            raise ValueError(f"Unsupported format: a protocol-{self.proto} pickle; re-save it.")
        package = module.split(".")[0]
        for key, spec in ALLOWED.items():
            if key.endswith(f".{ALIASES.get(name, name)}") and key.split(".")[0] == package:
                return _real(key) if spec is None else _Call(key)
        if module == "torch" and name in STORAGES:
            return STORAGES[name]  # a storage type is just its numpy dtype
        if module == "torch" and name.endswith("Storage"):
            raise ValueError(f"Unsupported format: torch {name[:-7].lower()} tensors; use float32.")
        raise UnsafePickle(f"The global {module}.{name} is not on the allow-list: refused.")

    def persistent_load(self, pid: Any) -> Any:
        """A torch storage ``('storage', dtype, key, location, numel[, None])``."""
        ok = type(pid) is tuple and len(pid) in (5, 6) and pid[0] == "storage"
        ok = ok and pid[1] in STORAGES.values() and type(pid[4]) is int and pid[4] >= 0
        if self.fetch is None or not ok or pid[5:] not in ((), (None,)):
            raise UnsafePickle(f"The persistent id {pid!r} is not a torch storage: refused.")
        return self.fetch(str(pid[2]), pid[1], pid[4])

    def _reduce(self) -> None:
        args, func = self.stack.pop(), self.stack[-1]
        spec = ALLOWED.get(func) if type(func) is _Call else None
        if callable(spec):
            self.stack[-1] = spec(self, *args)
            return
        ok = spec is not None and type(args) is tuple and len(args) <= len(spec)
        if not ok or not all(
            any(type(a) is type(v) and a == v for v in s) if type(s) is list else isinstance(a, s)
            for a, s in zip(args, spec, strict=False)
        ):
            what = getattr(func, "__qualname__", func)
            raise UnsafePickle(f"The pickle calls {what} as a data file never does: refused.")
        if args and args[0] is pd.RangeIndex:
            n = len(range(args[1].get("start", 0), args[1].get("stop"), args[1].get("step", 1)))
            self.budget.charge(f"A RangeIndex of {n:,} rows", (n,), 8)
        self.stack[-1] = _real(func)(*args)

    def _newobj(self) -> None:
        args, cls = self.stack.pop(), self.stack.pop()
        if cls is not pd.DataFrame or args != ():
            raise UnsafePickle(f"The pickle creates a {cls!r} with arguments: refused.")
        self.append(cls.__new__(cls))

    def _build(self) -> None:
        state, inst = self.stack.pop(), self.stack[-1]
        if isinstance(inst, np.ndarray) and type(state) is tuple and len(state) in (4, 5):
            self.budget.charge("An array in the pickle", state[-4], np.dtype(state[-3]).itemsize)
        elif isinstance(inst, pd.DataFrame) and type(state) is dict:
            known = {"_mgr", "_data", "_typ", "_metadata", "attrs", "_attrs", "_flags"}
            if extra := sorted({*state} - known):
                raise UnsafePickle(f"A DataFrame in the pickle sets unknown fields {extra}.")
        elif not isinstance(inst, np.dtype | pd._libs.arrays.NDArrayBacked):
            what = getattr(inst, "__qualname__", type(inst))
            raise UnsafePickle(f"The pickle sets the state of {what!r} (class pollution): refused.")
        type(inst).__setstate__(inst, state)

    def _bytearray8(self) -> None:
        self.budget.charge("A bytearray", (n := int.from_bytes(self.read(8), "little"),))
        self.append(bytearray(n))
        self.readinto(self.stack[-1])

    def _instance(self) -> None:
        raise UnsafePickle("The pickle makes an instance with INST, OBJ or NEWOBJ_EX: refused.")

    dispatch = pickle._Unpickler.dispatch | {pickle.REDUCE[0]: _reduce, pickle.BUILD[0]: _build}
    dispatch |= {pickle.NEWOBJ[0]: _newobj, pickle.BYTEARRAY8[0]: _bytearray8}
    dispatch |= dict.fromkeys([pickle.NEWOBJ_EX[0], pickle.INST[0], pickle.OBJ[0]], _instance)


def load(path: str | os.PathLike) -> Any:
    """Unpickle ``path`` (a pickle or a ``torch.save`` zip archive) through the allow-list."""
    with open(path, "rb") as handle:
        budget = Budget(os.fstat(handle.fileno()).st_size)
        if handle.read(4) != b"PK\x03\x04":
            handle.seek(0)
            return Unpickler(handle, budget).load()
        with zipfile.ZipFile(handle) as archive:  # <prefix>/data.pkl and <prefix>/data/<key>
            prefix = archive.namelist()[0].split("/")[0]

            def member(name: str) -> bytes:  # charged as declared (a lie fails the CRC check)
                info = archive.getinfo(f"{prefix}/{name}")
                return archive.open(info).read(budget.charge(name, (info.file_size,)))

            fetch = functools.cache(lambda key, dtype, n: Storage(member(f"data/{key}"), dtype, n))
            return Unpickler(io.BytesIO(member("data.pkl")), budget, fetch).load()


EMA_ROW_TOLERANCE = 2  # EMA rows per recording may differ from its frame count by this much


class BadOriginal(ValueError):
    """An original file cannot be used; the message names it and says why."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path.name} ({path}) cannot be used: {reason}")


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn any failure while reading ``path`` into a :class:`BadOriginal` that says why."""
    try:
        yield
    except Exception as err:  # a damaged or hostile file may raise anything (nothing from it ran)
        head = b"?"
        with contextlib.suppress(OSError), open(path, "rb") as handle:
            head = handle.read(64).lstrip().lower()
        if not head:
            reason = "it is empty (0 bytes): an interrupted download or copy?"
        elif head.startswith((b"<!doctype html", b"<html")):
            reason = "it is an HTML page, not data (Google Drive's answer to a refused download)."
        elif isinstance(err, EOFError) or "truncated" in str(err) or "exhausted" in str(err):
            reason = "it ends too early (truncated): an interrupted download or copy?"
        elif isinstance(err, ValueError) and not isinstance(err, UnicodeDecodeError):
            reason = str(err)  # the checks' own messages
        else:  # what a damaged pickle happened to raise (e.g. KeyError: 233) would say nothing
            reason = "it is damaged, or not a file of this kind: it cannot be read as one."
        raise BadOriginal(path, reason) from err


def read_recordings(path: Path) -> pd.DataFrame:
    """Read and check an ``ema_audio_<P>.pkl``: FILENAME, SENTENCE, AUDIO (float32, 16 kHz)."""
    with reading(path):
        table, columns = load(path), ["FILENAME", "SENTENCE", "AUDIO"]
        if not isinstance(table, pd.DataFrame) or table.empty or {*columns} - {*table.columns}:
            raise ValueError(f"it is not a table of recordings with the columns {columns}.")
        table = table[columns].reset_index(drop=True)
        names = table["FILENAME"].tolist()
        bad = [n for n in names if type(n) is not str or not re.fullmatch(r"[\w.-]+", n, re.ASCII)]
        if bad := bad or sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"FILENAME values {bad[:3]} are not unique names of [A-Za-z0-9_.-].")
        for name, values in zip(names, table["AUDIO"], strict=True):
            audio = np.asarray(values)
            if not (audio.ndim == 1 and audio.dtype.kind == "f" and audio.size >= FRAME_LENGTH):
                what = f"{audio.dtype} {audio.shape}; expected 1-D floats, at least one model frame"
                raise ValueError(f"the audio of {name} is {what} ({FRAME_LENGTH} samples).")
            if bad := int(np.count_nonzero(~np.isfinite(audio))):
                raise ValueError(f"the audio of {name} has {bad} NaN or infinite samples.")
        table["AUDIO"] = [np.asarray(values, np.float32) for values in table["AUDIO"]]
        return table.astype({"SENTENCE": str})


def read_labels(path: Path, lengths: Mapping[str, int]) -> pd.DataFrame:
    """Read and check an ``ema_labels_<P>.csv`` against the audio lengths ``{filename: n}``."""
    with reading(path):
        table = pd.read_csv(path, dtype={"FILENAME": str, "SENTENCE": str})
        if tuple(table.columns) != EMA_TABLE_COLUMNS or table.empty:
            got = f"{len(table)} rows of the columns {list(table.columns)}"
            raise ValueError(f"it has {got}; expected rows of exactly {list(EMA_TABLE_COLUMNS)}.")
        for column in ("TIMESTEP", *EMA_COLUMNS):
            table[column] = values = pd.to_numeric(table[column], errors="coerce")
            if bad := int((~np.isfinite(values.to_numpy(np.float64))).sum()):
                raise ValueError(f"column {column} has {bad} missing or non-numeric values.")
        if unknown := [n for n in dict.fromkeys(table["FILENAME"]) if n not in lengths]:
            raise ValueError(f"there are EMA rows for {unknown[:3]}, which have no audio.")
        for name, rows in table["FILENAME"].value_counts(sort=False).items():
            if abs(rows - (frames := n_model_frames(lengths[name]))) > EMA_ROW_TOLERANCE:
                raise ValueError(f"{name} has {rows} EMA rows but its audio gives {frames} frames.")
        return table.astype({"TIMESTEP": np.int64})


def check_states(states: Mapping, lengths: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Hidden states ``{layer: {filename: (T, d)}}`` checked (the same recordings in every layer,
    with audio, one size d, finite, ``T == n_model_frames(n_samples)``), keyed for the cache."""
    files, dims = set(next(iter(states.values()))), set()  # (states is not empty)
    for layer, per_file in states.items():
        if set(per_file) != files or not files <= set(lengths):
            odd = sorted(set(per_file) ^ files or files - set(lengths))
            raise ValueError(f"layer {layer} has states of other recordings ({odd[:3]}).")
        for name, array in per_file.items():
            frames, finite = n_model_frames(lengths[name]), bool(np.isfinite(array).all())
            if array.ndim != 2 or array.shape[0] != frames or not finite:
                shape = f"{array.shape} (finite: {finite}); its audio gives {frames} frames"
                raise ValueError(f"{name}, layer {layer}: the hidden states are {shape}.")
            dims.add(array.shape[1])
    if len(dims) > 1:
        raise ValueError(f"the hidden states have different sizes {sorted(dims)}.")
    return {hidden_state_key(k, f): a for k, per in states.items() for f, a in per.items()}


def read_frame_states(path: Path, lengths: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Read and check a ``frame_states_p*_test.pkl`` (``{layer: {filename: frames}}``)."""
    with reading(path):
        states = load(path)
        ok = isinstance(states, dict) and states and all(type(k) is int and k >= 0 for k in states)
        if not ok or not all(isinstance(v, dict) for v in states.values()):
            raise ValueError("it does not hold a {layer: {filename: frames}} dict.")
        for per_file in states.values():
            for name, frames in per_file.items():  # a list of (d,) frames, (T, d) or (1, T, d)
                array = np.ascontiguousarray(frames, np.float32)
                per_file[name] = array[0] if array.ndim == 3 and len(array) == 1 else array
        return check_states(states, lengths)
