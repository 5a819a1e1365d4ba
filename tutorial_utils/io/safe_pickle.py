"""Restricted unpickling of the tutorial's downloaded pickles (no torch needed).

The tutorial's original files are pickles: pandas DataFrames (``ema_audio_<P>.pkl``) and
dictionaries of torch tensors (``frame_states_*.pkl``). Unpickling runs whatever the file asks
for, so this module only resolves an explicit allow-list of globals (numpy array and dtype
reconstruction, the pandas internals of a DataFrame, ``slice``, ``OrderedDict``); anything else
raises :class:`UnsafePickleError` before it is called.

Torch tensors are mapped to numpy **without importing torch**. A plain ``pickle.dump`` of a CPU
tensor reduces to ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`` where
``storage`` is pickled as ``torch.storage._load_from_bytes(b)`` and ``b`` is a legacy
(non-zip) ``torch.save`` stream of the whole storage: four small pickles (magic number,
protocol 1001, system info, the storage as persistent id ``('storage', <dtype>Storage, key,
location, numel, None)``), a pickled list of keys, then per key an 8-byte little-endian element
count followed by the raw data. ``torch.save`` zip archives (``<prefix>/data.pkl`` plus
``<prefix>/data/<key>``) are read too. Each rebuilt tensor is a numpy **copy** of just its own
elements; the memo entries of large storages are dropped, so the real files (one
whole-recording storage per 768-dim frame) unpickle in memory bounded by the output.
"""

from __future__ import annotations

import importlib
import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

TORCH_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
TORCH_LEGACY_PROTOCOL = 1001
DROP_MEMO_BYTES = 1 << 16


class UnsafePickleError(ValueError):
    """A pickle asked for something outside the allow-list (nothing was run)."""


# Globals a DataFrame / ndarray pickle may name (module, attribute), across pandas 1.x-3.x.
_ALLOWED = frozenset(
    {
        ("builtins", "slice"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "bytearray"),
        ("builtins", "complex"),
        ("collections", "OrderedDict"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.dtypes", "Float32DType"),
        ("numpy.dtypes", "Float64DType"),
        ("numpy.dtypes", "Int64DType"),
        ("numpy.dtypes", "ObjectDType"),
        ("pandas", "DataFrame"),
        ("pandas", "Series"),
        ("pandas.core.frame", "DataFrame"),
        ("pandas.core.series", "Series"),
        ("pandas.core.internals.managers", "BlockManager"),
        ("pandas.core.internals.managers", "SingleBlockManager"),
        ("pandas._libs.internals", "_unpickle_block"),
        ("pandas._libs.internals", "BlockPlacement"),
        ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
        ("pandas.arrays", "StringArray"),
        ("pandas.core.arrays.string_", "StringArray"),
        ("pandas.core.arrays.string_", "StringDtype"),
        ("pandas", "StringDtype"),
        ("pandas", "Index"),
        ("pandas", "RangeIndex"),
        ("pandas.core.indexes.base", "_new_Index"),
        ("pandas.core.indexes.base", "Index"),
        ("pandas.core.indexes.range", "RangeIndex"),
        ("pandas.core.flags", "Flags"),
    }
)

# Old locations -> current ones (numpy 2 moved numpy.core; pandas 2 dropped numeric indexes).
_RENAMES = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("pandas.core.internals.blocks", "new_block"): ("pandas._libs.internals", "_unpickle_block"),
    ("pandas.core.indexes.numeric", "Int64Index"): ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.numeric", "UInt64Index"): ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.numeric", "Float64Index"): ("pandas.core.indexes.base", "Index"),
}

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


# --------------------------------------------------------------------------------------------
# Torch-free stand-ins
# --------------------------------------------------------------------------------------------


class _StorageType:
    """Stand-in for a ``torch.<dtype>Storage`` class: only its numpy dtype."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    """A torch storage as a flat numpy array (filled once its bytes have been read)."""

    def __init__(self, dtype: np.dtype, numel: int) -> None:
        self.dtype = np.dtype(dtype)
        self.numel = int(numel)
        self.array: np.ndarray | None = None

    def fill(self, data: bytes | bytearray | memoryview) -> None:
        if len(data) != self.numel * self.dtype.itemsize:
            raise ValueError(
                f"Truncated torch storage: expected {self.numel * self.dtype.itemsize} bytes, got "
                f"{len(data)}. The file is incomplete; download it again."
            )
        self.array = np.frombuffer(data, dtype=self.dtype.newbyteorder("<"))


class _Dropped:
    """Memo placeholder for a large storage that a well-formed file never refers to again."""


_DROPPED = _Dropped()


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple, stride: tuple, *_: Any):
    """Numpy copy of the elements of one tensor (stand-in for ``torch._utils._rebuild_tensor*``)."""
    if not isinstance(storage, _Storage) or storage.array is None:
        raise UnsafePickleError("A tensor refers to something that is not a loaded storage.")
    flat = storage.array
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride) or any(s < 0 for s in (*size, *stride)) or offset < 0:
        raise ValueError(f"Invalid tensor geometry: size {size}, stride {stride}.")
    if 0 in size:
        return np.empty(size, dtype=flat.dtype)
    last = int(offset) + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if last >= flat.size:
        raise ValueError(f"Tensor reaches element {last} of a storage of {flat.size} elements.")
    view = np.lib.stride_tricks.as_strided(
        flat[int(offset) :],
        shape=size,
        strides=tuple(s * flat.itemsize for s in stride),
        writeable=False,
    )
    return np.array(view, dtype=flat.dtype.newbyteorder("="), order="C")


def _storage_from_bytes(data: bytes) -> _Storage:
    """Stand-in for ``torch.storage._load_from_bytes``: parse a ``torch.save`` stream."""
    if data[:4] == b"PK\x03\x04":
        result = _load_torch_zip(io.BytesIO(data))
    else:
        result = _load_torch_legacy(io.BytesIO(data))
    if not isinstance(result, _Storage):
        raise UnsafePickleError("torch.storage._load_from_bytes did not hold a storage.")
    return result


_TORCH_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
}


# --------------------------------------------------------------------------------------------
# The restricted unpickler
# --------------------------------------------------------------------------------------------


def _resolve(module: str, name: str) -> Any:
    """Import an allow-listed global, trying its renamed location first."""
    target = _RENAMES.get((module, name), (module, name))
    if target not in _ALLOWED:
        raise UnsafePickleError(
            f"Refusing to load the global {module}.{name}: it is not on the allow-list of "
            "tutorial_utils.safe_pickle (nothing was executed). Only open pickles you trust; "
            "if this file is genuine, load it with the library that made it."
        )
    for mod, attr in (target, (module, name)):
        try:
            return getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError):
            continue
    raise UnsafePickleError(f"{module}.{name} is allowed but cannot be imported here.")


def _is_large(value: Any) -> bool:
    """True for a storage or for bytes longer than :data:`DROP_MEMO_BYTES`."""
    if isinstance(value, _Storage):
        return True
    return isinstance(value, bytes | bytearray) and len(value) > DROP_MEMO_BYTES


class RestrictedUnpickler(pickle._Unpickler):
    """Unpickler that resolves only allow-listed globals and maps torch tensors to numpy.

    The pure-Python unpickler is used so that memo entries holding large torch storages can be
    dropped (``drop_storages=True``): a rebuilt tensor is already a copy, and keeping every
    whole-recording storage in the memo would hold the entire file in memory.

    Parameters
    ----------
    file : binary file
    drop_storages : bool, default True
        Drop memo entries of torch storages and of bytes longer than 64 KiB. A pickle that
        refers back to such an entry raises ValueError instead of returning wrong data.
    storage_loader : callable, optional
        ``persistent_load`` for ``('storage', type, key, location, numel, ...)`` ids (used for
        the pickles inside ``torch.save`` files); by default persistent ids are refused.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: IO[bytes], *, drop_storages: bool = True, storage_loader=None):
        super().__init__(file)
        self._drop = drop_storages
        self._storage_loader = storage_loader

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _TORCH_GLOBALS:
            return _TORCH_GLOBALS[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        return _resolve(module, name)

    def persistent_load(self, pid: Any) -> Any:
        if self._storage_loader is None:
            raise UnsafePickleError(f"Refusing the persistent id {pid!r} outside a torch file.")
        return self._storage_loader(pid)

    # -- memo handling: keep small objects, drop large storages -------------------------------

    def _memo_value(self, value: Any) -> Any:
        """The value itself, or the placeholder for a storage / large bytes (or a tuple of one,
        e.g. the argument tuple of a reduce)."""
        items = value if isinstance(value, tuple) else (value,)
        big = any(_is_large(item) for item in items)
        return _DROPPED if (self._drop and big) else value

    def _load_memoize(self) -> None:
        self.memo[len(self.memo)] = self._memo_value(self.stack[-1])

    def _load_binput(self) -> None:
        self.memo[self.read(1)[0]] = self._memo_value(self.stack[-1])

    def _load_long_binput(self) -> None:
        self.memo[int.from_bytes(self.read(4), "little")] = self._memo_value(self.stack[-1])

    def _push_memo(self, index: int) -> None:
        value = self.memo[index]
        if value is _DROPPED:
            raise ValueError(
                "This pickle reuses a large torch storage, which the torch-free loader does not "
                "keep. Convert it with torch installed instead."
            )
        self.append(value)

    def _load_binget(self) -> None:
        self._push_memo(self.read(1)[0])

    def _load_long_binget(self) -> None:
        self._push_memo(int.from_bytes(self.read(4), "little"))

    def _load_get(self) -> None:
        self._push_memo(int(self.readline()[:-1]))

    dispatch[pickle.MEMOIZE[0]] = _load_memoize
    dispatch[pickle.BINPUT[0]] = _load_binput
    dispatch[pickle.LONG_BINPUT[0]] = _load_long_binput
    dispatch[pickle.BINGET[0]] = _load_binget
    dispatch[pickle.LONG_BINGET[0]] = _load_long_binget
    dispatch[pickle.GET[0]] = _load_get


# --------------------------------------------------------------------------------------------
# torch.save formats
# --------------------------------------------------------------------------------------------


def _storage_from_pid(pid: Any) -> _Storage:
    """Check a ``('storage', type, key, location, numel, ...)`` persistent id."""
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
        raise UnsafePickleError(f"Unexpected persistent id {pid!r} in a torch file.")
    storage_type = pid[1]
    if not isinstance(storage_type, _StorageType):
        raise UnsafePickleError(f"Unsupported torch storage type {storage_type!r}.")
    if len(pid) > 5 and pid[5] is not None:
        raise ValueError("Storage views of old torch versions are not supported without torch.")
    return _Storage(storage_type.dtype, pid[4])


def _load_torch_legacy(f: IO[bytes]) -> Any:
    """Read a legacy (non-zip) ``torch.save`` stream without torch."""

    def load(loader=None) -> Any:
        return RestrictedUnpickler(f, drop_storages=False, storage_loader=loader).load()

    if load() != TORCH_MAGIC_NUMBER or load() != TORCH_LEGACY_PROTOCOL:
        raise ValueError("Not a torch.save stream (wrong magic number or protocol).")
    sys_info = load()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", True):
        raise ValueError("Only little-endian torch files are supported.")
    storages: dict[str, _Storage] = {}

    def loader(pid: Any) -> _Storage:
        key = str(pid[2]) if isinstance(pid, tuple) and len(pid) > 2 else ""
        if key not in storages:
            storages[key] = _storage_from_pid(pid)
        return storages[key]

    result = load(loader)
    for key in load():
        storage = storages[str(key)]
        numel = int.from_bytes(f.read(8), "little")
        if numel != storage.numel:
            raise ValueError(
                f"Storage {key}: header says {numel} elements, its id says {storage.numel}."
            )
        storage.fill(f.read(numel * storage.dtype.itemsize))
    return result


def _load_torch_zip(f: IO[bytes]) -> Any:
    """Read a zip ``torch.save`` archive (``<prefix>/data.pkl`` + ``<prefix>/data/<key>``)."""
    with zipfile.ZipFile(f) as archive:
        pkl = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise ValueError("Not a torch.save zip archive (no <prefix>/data.pkl).")
        prefix = pkl[0].split("/")[0]
        byteorder = f"{prefix}/byteorder"
        if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
            raise ValueError("Only little-endian torch files are supported.")
        storages: dict[str, _Storage] = {}

        def loader(pid: Any) -> _Storage:
            key = str(pid[2]) if isinstance(pid, tuple) and len(pid) > 2 else ""
            if key not in storages:
                storage = _storage_from_pid(pid)
                storage.fill(archive.read(f"{prefix}/data/{key}"))
                storages[key] = storage
            return storages[key]

        with archive.open(pkl[0]) as handle:
            return RestrictedUnpickler(
                io.BytesIO(handle.read()), drop_storages=False, storage_loader=loader
            ).load()


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def safe_load(path: str | os.PathLike) -> Any:
    """Unpickle a file through the allow-list (torch tensors become numpy arrays).

    Parameters
    ----------
    path : path
        A ``pickle`` file, or a ``torch.save`` zip archive.

    Raises
    ------
    UnsafePickleError
        When the file names a global outside the allow-list; nothing from it is executed.
    FileNotFoundError
        When the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such file: {path}")
    with open(path, "rb") as handle:
        if handle.read(4) == b"PK\x03\x04":
            handle.seek(0)
            return _load_torch_zip(handle)
        handle.seek(0)
        return RestrictedUnpickler(handle).load()


def load_dataframe(path: str | os.PathLike):
    """Unpickle a pandas DataFrame safely (e.g. ``ema_audio_F02.pkl``)."""
    import pandas as pd

    obj = safe_load(path)
    if not isinstance(obj, pd.DataFrame):
        raise ValueError(f"{path} holds a {type(obj).__name__}, expected a pandas DataFrame.")
    return obj
