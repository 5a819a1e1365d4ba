"""Restricted unpickling of the original files (pandas DataFrames, torch tensors without torch).

Unpickling runs whatever a file asks for, so :func:`load` resolves only the globals of
:data:`CALLS` (called only with arguments of the listed types) and :data:`VALUES` (classes,
never called); gives state (``BUILD``) only to arrays, dtypes and pandas data, never to a class
(no class pollution); and charges every allocation a file declares to a budget of
4 x its size + 16 MiB *before* allocating it. Torch storages become numpy arrays, and large
ones are forgotten after use, so a frame-states file (each frame pickles its recording's whole
storage) unpickles in memory bounded by its output.
"""

from __future__ import annotations

import functools
import importlib
import io
import math
import os
import pickle
import zipfile
from typing import IO, Any

import numpy as np

TORCH_MAGIC, TORCH_PROTOCOL, ZIP_MAGIC = 0x1950A86A20F9469CFC6C, 1001, b"PK\x03\x04"
STORAGES = {"FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "LongStorage": "i8",
            "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1",
            "BoolStorage": "?"}  # fmt: skip
UNSUPPORTED = {
    "_codecs.encode": "a protocol-2 pickle (bytes stored as text, Python 2 era)",
    "copy_reg._reconstructor": "a protocol 0/1 pickle",
    "copyreg._reconstructor": "a protocol 0/1 pickle",
    **{f"torch.{k}Storage": f"torch {v} tensors ({k}Storage)" for k, v in {
        "BFloat16": "bfloat16", "ComplexHalf": "complex32", "ComplexFloat": "complex64",
        "ComplexDouble": "complex128", "QInt8": "quantised", "QUInt8": "quantised",
        "QInt32": "quantised", "QUInt4x2": "quantised", "QUInt2x4": "quantised"}.items()},
}  # fmt: skip
VALUES = {"numpy.ndarray", "pandas.DataFrame", "pandas.RangeIndex", "pandas.Index",
          "pandas.arrays.StringArray"}  # fmt: skip
"""Classes that may be arguments, never called (a DataFrame may be created empty)."""
RENAMES = {
    "pandas.core.frame.DataFrame": "pandas.DataFrame",
    "pandas.core.indexes.range.RangeIndex": "pandas.RangeIndex",
    "pandas.core.indexes.base.Index": "pandas.Index",
    "pandas.core.indexes.numeric.Int64Index": "pandas.Index",
    "pandas.core.indexes.numeric.UInt64Index": "pandas.Index",
    "pandas.core.indexes.numeric.Float64Index": "pandas.Index",
    "pandas.core.internals.blocks.new_block": "pandas._libs.internals._unpickle_block",
    "pandas.core.arrays.string_.StringArray": "pandas.arrays.StringArray",
    "pandas.core.arrays.string_.StringDtype": "pandas.StringDtype",
}
"""Older spellings of the allowed globals (and ``numpy.core`` is ``numpy._core``)."""


class UnsafePickle(ValueError):
    """A pickle asked for a global, call, state or memory that is refused (nothing ran)."""


def unsupported(what: str) -> ValueError:
    return ValueError(
        f"Unsupported format: {what}. It is not unsafe, but this loader does not read it. "
        "Re-save it with a current pandas/torch (`df.to_pickle(path)`, `torch.save(t.float(), "
        "path)`)."
    )


class Budget:
    """Bytes the objects made from one file may allocate: 4 x its size + 16 MiB."""

    def __init__(self, size: int) -> None:
        self.size, self.limit, self.used = size, 4 * size + (16 << 20), 0

    def charge(self, nbytes: int, what: str) -> None:
        """Count ``nbytes`` more, or raise :class:`UnsafePickle` before they are allocated."""
        if nbytes < 0 or self.used + nbytes > self.limit:
            raise UnsafePickle(
                f"{what} would allocate {nbytes:,} bytes, but a file of {self.size:,} bytes may "
                f"make at most {self.limit:,} bytes of objects (4 x its size + 16 MiB). A "
                "genuine data file never expands like this: the file is corrupt or hostile, and "
                "nothing was allocated."
            )
        self.used += nbytes

    def read(self, file: IO[bytes], n: int) -> bytes:
        """``n`` bytes of ``file``: a length that a pickle declares is checked before reading."""
        self.charge(n, f"Reading {n:,} bytes")
        self.used -= n  # the bytes are the file's own, not made from it
        return file.read(n)


def _nbytes(shape: Any, dtype: Any) -> int:
    if not (type(shape) is tuple and all(type(d) is int and d >= 0 for d in shape)):
        raise UnsafePickle(f"Invalid array shape {shape!r} in the pickle.")
    if not isinstance(dtype, np.dtype):
        raise UnsafePickle(f"Invalid array dtype {type(dtype).__name__} in the pickle.")
    return math.prod(shape) * dtype.itemsize


def _real(key: str) -> Any:
    module, _, name = key.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError:  # numpy 1
        return getattr(importlib.import_module(module.replace("numpy._core", "numpy.core")), name)


@functools.cache
def calls() -> dict[str, tuple]:
    """Globals that may be called -> the types (in a list: the values) of their arguments."""
    import pandas as pd

    arrays, opt = (np.ndarray, pd.api.extensions.ExtensionArray), (int, float, str, type(None))
    return {
        "numpy._core.multiarray._reconstruct": ([np.ndarray], [(0,)], [b"b"]),  # empty
        "numpy._core.numeric._frombuffer": ((bytes, bytearray), np.dtype, tuple, str),  # a view
        "numpy.dtype": (str, bool, bool),
        "numpy._core.multiarray.scalar": (np.dtype, object),
        "pandas._libs.internals._unpickle_block": (arrays, (slice, np.ndarray), int),
        "pandas._libs.arrays.__pyx_unpickle_NDArrayBacked": ([pd.arrays.StringArray], int, [None]),
        "pandas.StringDtype": (opt, opt),
        "pandas.core.indexes.base._new_Index": ([pd.Index, pd.RangeIndex], dict),
        "pandas.core.internals.managers.BlockManager": ((tuple, list), list, bool),
        "builtins.slice": ((int, type(None)),) * 3,
        "collections.OrderedDict": (),
    }


def _fits(arg: Any, spec: Any) -> bool:
    """``arg`` is an instance of ``spec``, or one of the values in the list ``spec``."""
    if type(spec) is list:
        return any(type(arg) is type(value) and arg == value for value in spec)
    return isinstance(arg, spec)


class Storage:
    """A torch storage as a flat little-endian numpy array (filled once its bytes are read)."""

    def __init__(self, dtype: str, numel: int) -> None:
        self.array, self.numel = np.empty(0, "<" + dtype), numel

    def __len__(self) -> int:
        return self.numel * self.array.itemsize

    def fill(self, data: bytes) -> None:
        if len(data) != len(self):
            raise ValueError(
                f"Truncated torch storage: {len(data)} bytes instead of {len(self)}. The file is "
                "incomplete; download it again."
            )
        self.array = np.frombuffer(data, self.array.dtype)


def _rebuild_tensor(u: Unpickler, storage: Any, offset: Any, size: Any, stride: Any, *_: Any):
    """Numpy copy of just the tensor's own elements (charged before it is made)."""
    if not (isinstance(storage, Storage) and type(offset) is int and type(stride) is tuple):
        raise UnsafePickle("A torch tensor in the pickle is not made of a storage and ints.")
    u.budget.charge(_nbytes(size, storage.array.dtype), f"A tensor of shape {size}")
    flat, last = storage.array, offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if min(offset, *stride, 0) < 0 or (0 not in size and last >= flat.size):
        raise ValueError(f"Invalid tensor geometry: size {size}, stride {stride}, offset {offset}.")
    strides = tuple(s * flat.itemsize for s in stride)
    view = np.lib.stride_tricks.as_strided(flat[offset:], size, strides, writeable=False)
    return np.array(view, dtype=flat.dtype.newbyteorder("="), order="C")


def _storage_from_bytes(u: Unpickler, data: Any) -> Storage:
    """A legacy ``torch.save`` stream: 3 header pickles, the storage, its keys, its data."""
    if u.storages is not None:
        raise ValueError("A torch stream is nested inside another one; the file is corrupt.")
    f, storages = io.BytesIO(data), {}
    header = [Unpickler(f, u.budget, {}).load() for _ in range(3)]
    if header[:2] != [TORCH_MAGIC, TORCH_PROTOCOL] or not header[2].get("little_endian"):
        raise ValueError("Not a little-endian torch.save stream (wrong magic number or protocol).")
    storage, keys = Unpickler(f, u.budget, storages).load(), Unpickler(f, u.budget, {}).load()
    if not isinstance(storage, Storage) or keys != [*storages] or len(keys) != 1:
        raise ValueError("The torch stream does not hold one storage.")
    if int.from_bytes(f.read(8), "little") != storage.numel:
        raise ValueError("The torch storage's element count differs from its header's.")
    storage.fill(f.read(len(storage)))
    return storage


TORCH = {
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch.storage._load_from_bytes": _storage_from_bytes,
}
"""Torch globals that may be called, each replaced by ``f(unpickler, *args)``."""


class _Call(str):
    """What :meth:`Unpickler.find_class` returns for a global that may be called."""


class _Memo(dict):
    """Memo that forgets large storages and bytes: a genuine file never refers back to them."""

    def __setitem__(self, key: int, value: Any) -> None:
        items = value if type(value) is tuple else (value,)  # e.g. the arguments of a call
        big = any(isinstance(v, Storage | bytes | bytearray) and len(v) > 65536 for v in items)
        super().__setitem__(key, _Memo if big else value)

    def __getitem__(self, key: int) -> Any:
        if (value := super().__getitem__(key)) is _Memo:
            raise ValueError("The pickle reuses a large torch storage; convert it with torch.")
        return value


class Unpickler(pickle._Unpickler):
    """The pure-Python unpickler, with every opcode that calls, creates or changes an object
    checked. ``storages``: the storages of a torch stream (``None`` outside one: persistent ids
    are refused, and the memo forgets large objects); ``fetch(key)``: a storage's bytes."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: IO[bytes], budget: Budget, storages: dict | None = None,
                 fetch: Any = None) -> None:  # fmt: skip
        super().__init__(file)
        self.budget, self.storages, self.fetch = budget, storages, fetch
        self._file_read = functools.partial(budget.read, file)  # (no reference cycle)
        self.memo = _Memo() if storages is None else {}

    def find_class(self, module: str, name: str) -> Any:
        key = f"{module}.{name}".replace("numpy.core.", "numpy._core.")
        key = RENAMES.get(key, key)
        if key in TORCH or key in calls():
            return _Call(key)
        if key in VALUES:
            return _real(key)
        if module == "torch" and name in STORAGES:
            return STORAGES[name]  # a storage type is just its numpy dtype
        if key in UNSUPPORTED:
            raise unsupported(UNSUPPORTED[key])
        raise UnsafePickle(
            f"Refusing to load the global {module}.{name}: it is not on the allow-list of "
            "tutorial_utils.io (nothing was executed). Only open pickles you trust."
        )

    def persistent_load(self, pid: Any) -> Storage:
        """A torch storage ``('storage', dtype, key, location, numel[, None])``."""
        ok = type(pid) is tuple and len(pid) in (5, 6) and pid[0] == "storage"
        ok = ok and pid[1] in STORAGES.values() and type(pid[4]) is int and pid[4] >= 0
        if self.storages is None or not ok or pid[5:] not in ((), (None,)):
            raise UnsafePickle(f"Refusing the persistent id {pid!r} (not a torch storage).")
        if (key := str(pid[2])) not in self.storages:
            self.storages[key] = Storage(pid[1], pid[4])
            if self.fetch is not None:
                self.storages[key].fill(self.fetch(key))
        return self.storages[key]

    def _reduce(self) -> None:
        args, func = self.stack.pop(), self.stack[-1]
        if type(func) is _Call and func in TORCH:
            self.stack[-1] = TORCH[func](self, *args)
            return
        spec = calls().get(func) if type(func) is _Call else None
        fits = spec is not None and type(args) is tuple and len(args) <= len(spec)
        if not fits or not all(map(_fits, args, spec)):
            raise UnsafePickle(
                f"The pickle calls {getattr(func, '__qualname__', func)}: refused (a class may "
                "only be a value; a function only gets the arguments of a data file)."
            )
        if args and args[0] is _real("pandas.RangeIndex"):
            n = len(range(args[1].get("start", 0), args[1].get("stop"), args[1].get("step", 1)))
            self.budget.charge(8 * n, f"A RangeIndex of {n:,} rows")
        self.stack[-1] = _real(func)(*args)

    def _newobj(self) -> None:
        args, cls = self.stack.pop(), self.stack.pop()
        if cls is not _real("pandas.DataFrame") or args != ():
            raise UnsafePickle(f"The pickle creates a {cls!r} with arguments: refused.")
        self.append(cls.__new__(cls))

    def _build(self) -> None:
        state, inst = self.stack.pop(), self.stack[-1]
        if isinstance(inst, np.ndarray) and type(state) is tuple and len(state) in (4, 5):
            self.budget.charge(_nbytes(*state[-4:-2]), "An array in the pickle")
        elif isinstance(inst, _real("pandas.DataFrame")) and type(state) is dict:
            if not set(state) <= {
                "_mgr",
                "_data",
                "_typ",
                "_metadata",
                "attrs",
                "_attrs",
                "_flags",
            }:
                raise UnsafePickle(f"A DataFrame in the pickle sets unknown fields {[*state]}.")
        elif not isinstance(inst, np.dtype | _real("pandas._libs.arrays.NDArrayBacked")):
            raise UnsafePickle(
                f"The pickle sets the state of {getattr(inst, '__qualname__', type(inst))!r}, "
                "which is not a data object (a class-pollution attack would change a class for "
                "the rest of the process). Refused; nothing was changed."
            )
        type(inst).__setstate__(inst, state)

    def _bytearray8(self) -> None:
        self.budget.charge(n := int.from_bytes(self.read(8), "little"), "A bytearray")
        self.append(bytearray(n))
        self.readinto(self.stack[-1])

    def _old_instance(self) -> None:
        raise unsupported("a protocol 0/1 pickle that creates class instances")

    dispatch.update({pickle.REDUCE[0]: _reduce, pickle.NEWOBJ[0]: _newobj, pickle.BUILD[0]: _build,
                     pickle.NEWOBJ_EX[0]: _old_instance, pickle.INST[0]: _old_instance,
                     pickle.OBJ[0]: _old_instance, pickle.BYTEARRAY8[0]: _bytearray8})  # fmt: skip


def load(path: str | os.PathLike) -> Any:
    """Unpickle ``path`` (a pickle or a ``torch.save`` zip archive) through the allow-list.

    Raises
    ------
    UnsafePickle
        When the file names a global, call or state outside the allow-list, or would allocate
        more than 4 x its size + 16 MiB; nothing from it is executed.
    ValueError
        When the file is broken or in an unsupported format.
    """
    with open(path, "rb") as handle:
        budget = Budget(os.fstat(handle.fileno()).st_size)
        if handle.read(4) != ZIP_MAGIC:
            handle.seek(0)
            return Unpickler(handle, budget).load()
        with zipfile.ZipFile(handle) as archive:  # <prefix>/data.pkl + <prefix>/data/<key>

            def member(name: str) -> bytes:
                budget.charge(archive.getinfo(name).file_size, f"The archive member {name}")
                return archive.read(name)

            pkl = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
            if len(pkl) != 1:
                raise ValueError("Not a torch.save zip archive (no <prefix>/data.pkl).")
            prefix = pkl[0].split("/")[0]
            fetch = lambda key: member(f"{prefix}/data/{key}")  # noqa: E731
            return Unpickler(io.BytesIO(member(pkl[0])), budget, {}, fetch).load()
