"""What the restricted unpickler allows: an allow-list, a memory budget, no class pollution.

Unpickling runs whatever the file asks for, so
:class:`~tutorial_utils.io.unpickler.RestrictedUnpickler` only resolves an explicit allow-list
of globals (numpy array and dtype reconstruction, the pandas internals of a DataFrame,
``slice``, ``OrderedDict``) and checks every use of them:

* **Calls** (``REDUCE``) go to guard functions (:mod:`tutorial_utils.io.pickle_guards`) that
  check the argument types and charge the memory the result will take to a :class:`Budget`
  *before* it is allocated. Classes such as ``pandas.Series`` may appear as values but are
  never called with arguments.
* **Memory**: the objects made from one file may allocate at most ``4 × file size + 16 MiB``
  (:data:`BUDGET_FACTOR`, :data:`BUDGET_SLACK`) in arrays, ``bytearray``\\ s, decompressed
  members and implied index lengths (a ``RangeIndex`` is charged 8 bytes per element, as
  anything that materialises it allocates that much). Genuine files stay well below: an array
  pickle holds its bytes, so it never expands. Plain containers (lists, dicts) cost at most a
  small constant per opcode of the file.
* **State** (``BUILD``) is applied only to instances of a few data types (ndarray, dtype,
  DataFrame, Series, the pandas managers and arrays) through their own ``__setstate__``; a
  ``BUILD`` on a class or function (class pollution) is refused.

Formats that are safe but not handled (protocol 0-2 pickles of Python 2 era, bfloat16 or
complex torch storages) raise :class:`UnsupportedPickleFormat`, not :class:`UnsafePickleError`.
"""

from __future__ import annotations

import functools
import importlib
import math
import types
from typing import Any

import numpy as np

BUDGET_FACTOR = 4
"""Objects made from a file may allocate this many times the file's size ..."""
BUDGET_SLACK = 16 << 20
"""... plus this many bytes."""
DROP_MEMO_BYTES = 1 << 16
"""Bytes objects longer than this are not kept in the memo (see :class:`RestrictedUnpickler`)."""


class UnsafePickleError(ValueError):
    """A pickle asked for something outside the allow-list (nothing was run)."""


class PickleTooLarge(UnsafePickleError):
    """A pickle would allocate more memory than its size allows (refused before allocating)."""


class UnsupportedPickleFormat(ValueError):
    """A pickle in a safe format that this loader does not read (nothing was run)."""


class Budget:
    """Memory that the objects made from one file may allocate, charged before allocating.

    Parameters
    ----------
    file_size : int
        Size of the file in bytes; the limit is ``BUDGET_FACTOR * file_size + BUDGET_SLACK``.
    """

    def __init__(self, file_size: int) -> None:
        self.file_size = int(file_size)
        self.limit = BUDGET_FACTOR * self.file_size + BUDGET_SLACK
        self.used = 0

    def charge(self, nbytes: int, what: str) -> None:
        """Account for ``nbytes`` more bytes, or raise :class:`PickleTooLarge`."""
        nbytes = int(nbytes)
        if nbytes < 0 or self.used + nbytes > self.limit:
            raise PickleTooLarge(
                f"{what} would allocate {nbytes:,} bytes, but a file of {self.file_size:,} bytes "
                f"may make at most {self.limit:,} bytes of objects (4 x its size + 16 MiB). A "
                "genuine data file never expands like this: the file is corrupt or hostile, and "
                "nothing was allocated."
            )
        self.used += nbytes


def array_nbytes(shape: Any, dtype: Any) -> int:
    """Bytes of an array of ``shape`` and ``dtype``, checked to be plain non-negative ints."""
    dims = tuple(shape) if isinstance(shape, tuple | list) else (shape,)
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dims):
        raise UnsafePickleError(f"Invalid array shape {shape!r} in the pickle.")
    itemsize = np.dtype(dtype).itemsize if dtype is not None else 1
    return math.prod(dims) * max(itemsize, 1)


def import_global(module: str, name: str) -> Any:
    """``module.name``; ``numpy._core`` falls back to ``numpy.core`` (numpy 1.x)."""
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError:
        if not module.startswith("numpy._core"):
            raise
        return getattr(importlib.import_module(module.replace("numpy._core", "numpy.core")), name)


_RENAMES = {
    "numpy.core.multiarray": "numpy._core.multiarray",
    "numpy.core.numeric": "numpy._core.numeric",
    "pandas.core.frame": "pandas",
    "pandas.core.series": "pandas",
    "pandas.core.indexes.range": "pandas",
    "pandas.arrays": "pandas.core.arrays.string_",
}
"""Old module paths -> current ones (numpy 2 moved numpy.core; pandas re-exports)."""
_NAME_RENAMES = {
    ("pandas.core.internals.blocks", "new_block"): ("pandas._libs.internals", "_unpickle_block"),
    ("pandas.core.indexes.numeric", "Int64Index"): ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.numeric", "UInt64Index"): ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.numeric", "Float64Index"): ("pandas.core.indexes.base", "Index"),
    ("pandas", "Index"): ("pandas.core.indexes.base", "Index"),
    ("pandas", "StringDtype"): ("pandas.core.arrays.string_", "StringDtype"),
}
INDEX = ("pandas.core.indexes.base", "Index")
VALUE_CLASSES = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy.dtypes", "Float32DType"),
        ("numpy.dtypes", "Float64DType"),
        ("numpy.dtypes", "Int64DType"),
        ("numpy.dtypes", "ObjectDType"),
        ("pandas", "DataFrame"),
        ("pandas", "Series"),
        ("pandas", "RangeIndex"),
        ("pandas.core.indexes.base", "Index"),
        ("pandas.core.arrays.string_", "StringArray"),
    }
)
"""Classes that may appear as values (arguments), never called with arguments."""
NEWOBJ_CLASSES = frozenset({("pandas", "DataFrame"), ("pandas", "Series")})
"""Classes that may be created empty (``cls.__new__(cls)``) and then given their state."""
UNSUPPORTED_GLOBALS = {
    ("_codecs", "encode"): "a protocol-2 pickle (bytes stored as text, Python 2 era)",
    ("copy_reg", "_reconstructor"): "a protocol 0/1 pickle",
    ("copyreg", "_reconstructor"): "a protocol 0/1 pickle",
}


def normalise(module: str, name: str) -> tuple[str, str]:
    """Current location of an allow-listed global pickled under an older name."""
    key = _NAME_RENAMES.get((module, name), (_RENAMES.get(module, module), name))
    return _NAME_RENAMES.get(key, key)


def unsupported_format(what: str) -> UnsupportedPickleFormat:
    """The error for a safe format this loader does not read."""
    return UnsupportedPickleFormat(
        f"Unsupported format: {what}. It is not unsafe, but this loader does not read it. "
        "Re-save the file with a current pandas/torch (e.g. `df.to_pickle(path)` or "
        "`torch.save(tensor.float(), path)`), or convert it with the library that made it."
    )


@functools.cache
def _buildable() -> tuple[type, ...]:
    """Types whose instances may receive state (``BUILD``) through their own ``__setstate__``."""
    names = [
        ("pandas", "DataFrame"),
        ("pandas", "Series"),
        ("pandas._libs.arrays", "NDArrayBacked"),
        ("pandas.core.internals.managers", "BlockManager"),
        ("pandas.core.internals.managers", "SingleBlockManager"),
    ]
    return (np.ndarray, np.dtype, *(import_global(m, n) for m, n in names))


_FRAME_STATE_KEYS = frozenset(
    {"_mgr", "_data", "_typ", "_metadata", "attrs", "_attrs", "_flags", "name", "_name"}
)


def check_build(inst: Any, state: Any, budget: Budget) -> None:
    """Refuse ``BUILD`` on anything but an allowed data instance; charge array states."""
    if isinstance(inst, type | types.FunctionType | types.BuiltinFunctionType | types.ModuleType):
        raise UnsafePickleError(
            f"The pickle tries to set attributes on {getattr(inst, '__name__', inst)!r}, a class "
            "or function (a class-pollution attack, which would change it for the rest of the "
            "process). Refused; nothing was changed."
        )
    if not isinstance(inst, _buildable()):
        raise UnsafePickleError(f"The pickle sets the state of a {type(inst).__name__}: refused.")
    if isinstance(inst, np.ndarray):
        fields = state[1:] if isinstance(state, tuple) and len(state) == 5 else state
        if not (isinstance(fields, tuple) and len(fields) == 4):
            raise UnsafePickleError("An array in the pickle has a malformed state.")
        budget.charge(array_nbytes(fields[0], fields[1]), "An array in the pickle")
    if hasattr(inst, "_typ") and not isinstance(inst, np.ndarray | np.dtype):
        if isinstance(state, dict) and not set(state) <= _FRAME_STATE_KEYS:
            extra = sorted(map(str, set(state) - _FRAME_STATE_KEYS))
            raise UnsafePickleError(f"A pandas object in the pickle sets unknown fields {extra}.")
