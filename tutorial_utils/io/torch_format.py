"""Torch tensors in pickles and ``torch.save`` files, read into numpy **without torch**.

A plain ``pickle.dump`` of a CPU tensor reduces to ``torch._utils._rebuild_tensor_v2(storage,
offset, size, stride, ...)`` where ``storage`` is pickled as
``torch.storage._load_from_bytes(b)`` and ``b`` is a legacy (non-zip) ``torch.save`` stream of
the whole storage: four small pickles (magic number, protocol 1001, system info, the storage as
persistent id ``('storage', <dtype>Storage, key, location, numel, None)``), a pickled list of
keys, then per key an 8-byte little-endian element count followed by the raw data.
``torch.save`` zip archives (``<prefix>/data.pkl`` plus ``<prefix>/data/<key>``) are read too.

Each rebuilt tensor is a numpy **copy** of just its own elements, charged to the file's
:class:`~tutorial_utils.io.pickle_policy.Budget` before it is made (a stride-0 tensor cannot
expand one element into gigabytes); so are decompressed zip members. A torch stream nested in
another one is refused. bfloat16, complex and quantised storages are a safe but unsupported
format.
"""

from __future__ import annotations

import functools
import io
import zipfile
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from .pickle_policy import DROP_MEMO_BYTES, Budget, UnsafePickleError, array_nbytes
from .unpickler import RestrictedUnpickler

TORCH_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
TORCH_LEGACY_PROTOCOL = 1001
ZIP_MAGIC = b"PK\x03\x04"

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
_UNSUPPORTED_STORAGES = {
    name: f"torch {kind} tensors ({name})"
    for name, kind in {
        "BFloat16Storage": "bfloat16",
        "ComplexHalfStorage": "complex32",
        "ComplexFloatStorage": "complex64",
        "ComplexDoubleStorage": "complex128",
        "QInt8Storage": "quantised",
        "QUInt8Storage": "quantised",
        "QInt32Storage": "quantised",
        "QUInt4x2Storage": "quantised",
        "QUInt2x4Storage": "quantised",
    }.items()
}


class StorageType:
    """Stand-in for a ``torch.<dtype>Storage`` class: only its numpy dtype."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class Storage:
    """A torch storage as a flat numpy array (filled once its bytes have been read)."""

    def __init__(self, dtype: np.dtype, numel: int) -> None:
        self.dtype = np.dtype(dtype)
        self.numel = int(numel)
        self.array: np.ndarray | None = None

    def fill(self, data: bytes | bytearray | memoryview) -> None:
        """Use ``data`` (exactly ``numel`` little-endian elements) as the storage's values."""
        if len(data) != self.numel * self.dtype.itemsize:
            raise ValueError(
                f"Truncated torch storage: expected {self.numel * self.dtype.itemsize} bytes, got "
                f"{len(data)}. The file is incomplete; download it again."
            )
        self.array = np.frombuffer(data, dtype=self.dtype.newbyteorder("<"))


def is_large(value: Any) -> bool:
    """True for a storage or for bytes longer than :data:`DROP_MEMO_BYTES`."""
    if isinstance(value, Storage):
        return True
    return isinstance(value, bytes | bytearray) and len(value) > DROP_MEMO_BYTES


def rebuild_tensor(
    budget: Budget, storage: Any, offset: Any, size: Any, stride: Any, *_: Any
) -> np.ndarray:
    """Numpy copy of the elements of one tensor (stand-in for ``torch._utils._rebuild_tensor*``)."""
    if not isinstance(storage, Storage) or storage.array is None:
        raise UnsafePickleError("A tensor refers to something that is not a loaded storage.")
    if not (isinstance(size, tuple) and isinstance(stride, tuple) and isinstance(offset, int)):
        raise UnsafePickleError(f"Invalid tensor geometry: size {size!r}, stride {stride!r}.")
    budget.charge(array_nbytes(size, storage.dtype), f"A tensor of shape {size}")
    flat = storage.array
    if len(size) != len(stride) or any(s < 0 for s in (*size, *stride)) or offset < 0:
        raise ValueError(f"Invalid tensor geometry: size {size}, stride {stride}.")
    if 0 in size:
        return np.empty(size, dtype=flat.dtype.newbyteorder("="))
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if last >= flat.size:
        raise ValueError(f"Tensor reaches element {last} of a storage of {flat.size} elements.")
    view = np.lib.stride_tricks.as_strided(
        flat[offset:],
        shape=size,
        strides=tuple(s * flat.itemsize for s in stride),
        writeable=False,
    )
    return np.array(view, dtype=flat.dtype.newbyteorder("="), order="C")


def storage_from_bytes(budget: Budget, depth: int, data: Any) -> Storage:
    """Stand-in for ``torch.storage._load_from_bytes``: parse a nested ``torch.save`` stream."""
    if depth > 0:
        raise ValueError("A torch stream is nested inside another one; the file is corrupt.")
    if not isinstance(data, bytes | bytearray):
        raise UnsafePickleError("torch.storage._load_from_bytes called without bytes.")
    stream = io.BytesIO(data)
    loaded = read_zip(stream, budget) if data[:4] == ZIP_MAGIC else read_legacy(stream, budget)
    if not isinstance(loaded, Storage):
        raise UnsafePickleError("torch.storage._load_from_bytes did not hold a storage.")
    return loaded


def unpickler(
    f: IO[bytes], budget: Budget, *, depth: int, loader: Callable[[Any], Any] | None = None
) -> RestrictedUnpickler:
    """A restricted unpickler that also knows the torch stand-ins.

    ``depth`` 0 is a plain pickle (its memo drops storages and large bytes); the pickles inside
    ``torch.save`` streams have depth 1 and keep their memo.
    """
    guards = {
        ("torch._utils", "_rebuild_tensor_v2"): functools.partial(rebuild_tensor, budget),
        ("torch._utils", "_rebuild_tensor"): functools.partial(rebuild_tensor, budget),
        ("torch.storage", "_load_from_bytes"): functools.partial(storage_from_bytes, budget, depth),
    }
    return RestrictedUnpickler(
        f,
        budget,
        guards=guards,
        values={("torch", name): StorageType(name) for name in _STORAGE_DTYPES},
        unsupported={("torch", name): what for name, what in _UNSUPPORTED_STORAGES.items()},
        drop_storages=depth == 0,
        storage_loader=loader,
        is_large=is_large,
    )


def _storage_from_pid(pid: Any) -> Storage:
    """Check a ``('storage', type, key, location, numel, ...)`` persistent id."""
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
        raise UnsafePickleError(f"Unexpected persistent id {pid!r} in a torch file.")
    if not isinstance(pid[1], StorageType):
        raise UnsafePickleError(f"Unsupported torch storage type {pid[1]!r}.")
    if not isinstance(pid[4], int) or pid[4] < 0:
        raise ValueError(f"Invalid element count {pid[4]!r} of a torch storage.")
    if len(pid) > 5 and pid[5] is not None:
        raise ValueError("Storage views of old torch versions are not supported without torch.")
    return Storage(pid[1].dtype, pid[4])


def read_legacy(f: IO[bytes], budget: Budget) -> Any:
    """Read a legacy (non-zip) ``torch.save`` stream without torch."""
    storages: dict[str, Storage] = {}

    def loader(pid: Any) -> Storage:
        key = str(pid[2]) if isinstance(pid, tuple) and len(pid) > 2 else ""
        if key not in storages:
            storages[key] = _storage_from_pid(pid)
        return storages[key]

    def load(with_storages: bool = False) -> Any:
        return unpickler(f, budget, depth=1, loader=loader if with_storages else None).load()

    if load() != TORCH_MAGIC_NUMBER or load() != TORCH_LEGACY_PROTOCOL:
        raise ValueError("Not a torch.save stream (wrong magic number or protocol).")
    sys_info = load()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", True):
        raise ValueError("Only little-endian torch files are supported.")
    result = load(with_storages=True)
    keys = load()
    if not isinstance(keys, list) or set(map(str, keys)) != set(storages):
        raise ValueError("The storage keys of the torch stream do not match its objects.")
    for key in keys:
        storage = storages[str(key)]
        numel = int.from_bytes(f.read(8), "little")
        if numel != storage.numel:
            raise ValueError(
                f"Storage {key}: {numel} elements in its header, {storage.numel} in its id."
            )
        storage.fill(f.read(numel * storage.dtype.itemsize))
    return result


def _read_member(archive: zipfile.ZipFile, name: str, budget: Budget) -> bytes:
    """One member of a zip archive, its declared size charged before it is decompressed."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ValueError(f"The torch archive has no member {name}.") from None
    budget.charge(info.file_size, f"The archive member {name} (decompressed)")
    return archive.read(info)


def read_zip(f: IO[bytes], budget: Budget) -> Any:
    """Read a zip ``torch.save`` archive (``<prefix>/data.pkl`` + ``<prefix>/data/<key>``)."""
    with zipfile.ZipFile(f) as archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise ValueError("Not a torch.save zip archive (no <prefix>/data.pkl).")
        prefix = pkl[0].split("/")[0]
        if f"{prefix}/byteorder" in names:
            if _read_member(archive, f"{prefix}/byteorder", budget).strip() != b"little":
                raise ValueError("Only little-endian torch files are supported.")
        storages: dict[str, Storage] = {}

        def loader(pid: Any) -> Storage:
            key = str(pid[2]) if isinstance(pid, tuple) and len(pid) > 2 else ""
            if key not in storages:
                storage = _storage_from_pid(pid)
                storage.fill(_read_member(archive, f"{prefix}/data/{key}", budget))
                storages[key] = storage
            return storages[key]

        data = io.BytesIO(_read_member(archive, pkl[0], budget))
        return unpickler(data, budget, depth=1, loader=loader).load()
