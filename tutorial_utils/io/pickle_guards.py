"""Guards: checked stand-ins of the globals that DataFrame and ndarray pickles call.

Each guard checks the types of its arguments, charges the memory its result will take to the
file's :class:`~tutorial_utils.io.pickle_policy.Budget`, and only then calls the real function.
"""

from __future__ import annotations

import collections
import functools
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

from .pickle_policy import INDEX, Budget, UnsafePickleError, array_nbytes, import_global


def _refuse(what: str) -> UnsafePickleError:
    return UnsafePickleError(f"The pickle calls {what}: refused (nothing was executed).")


def _plain(*values: Any, kinds: tuple[type, ...] = (int, float, str, type(None))) -> bool:
    return all(isinstance(v, kinds) and not isinstance(v, bool | np.generic) for v in values)


def _reconstruct(budget: Budget, subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray or not isinstance(dtype, str | bytes):
        raise _refuse(f"numpy _reconstruct with {subtype!r}")
    budget.charge(array_nbytes(shape, np.dtype(dtype)), "An array in the pickle")
    return import_global("numpy._core.multiarray", "_reconstruct")(subtype, shape, dtype)


def _frombuffer(budget: Budget, buf: Any, dtype: Any, *rest: Any) -> np.ndarray:
    if not isinstance(buf, bytes | bytearray | pickle.PickleBuffer) or not isinstance(
        dtype, np.dtype
    ):
        raise _refuse("numpy _frombuffer with other than a buffer and a dtype")
    return import_global("numpy._core.numeric", "_frombuffer")(buf, dtype, *rest)  # a view


def _dtype(budget: Budget, obj: Any, *flags: Any) -> np.dtype:
    if not isinstance(obj, str | bytes) or not all(isinstance(f, bool) for f in flags):
        raise _refuse(f"numpy.dtype with {type(obj).__name__}")
    return np.dtype(obj, *flags)


def _scalar(budget: Budget, dtype: Any, *obj: Any) -> Any:
    if not isinstance(dtype, np.dtype) or len(obj) > 1:
        raise _refuse("numpy scalar without a dtype")
    return import_global("numpy._core.multiarray", "scalar")(dtype, *obj)


def _unpickle_block(budget: Budget, values: Any, placement: Any, ndim: Any) -> Any:
    arrays = (np.ndarray, import_global("pandas.api.extensions", "ExtensionArray"))
    places = (slice, np.ndarray, import_global("pandas._libs.internals", "BlockPlacement"))
    if not (isinstance(values, arrays) and isinstance(placement, places) and ndim in (1, 2)):
        raise _refuse("pandas _unpickle_block with unexpected arguments")
    return import_global("pandas._libs.internals", "_unpickle_block")(values, placement, ndim)


def _block_placement(budget: Budget, indexer: Any) -> Any:
    if not isinstance(indexer, slice | np.ndarray):
        raise _refuse("pandas BlockPlacement with unexpected arguments")
    return import_global("pandas._libs.internals", "BlockPlacement")(indexer)


def _ndarray_backed(budget: Budget, cls: Any, checksum: Any, state: Any) -> Any:
    string_array = import_global("pandas.core.arrays.string_", "StringArray")
    if cls is not string_array or not isinstance(checksum, int) or state is not None:
        raise _refuse(f"pandas __pyx_unpickle_NDArrayBacked with {cls!r}")
    unpickle = import_global("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked")
    return unpickle(cls, checksum, state)


def _string_dtype(budget: Budget, *args: Any) -> Any:
    if len(args) > 2 or not _plain(*args):
        raise _refuse("pandas StringDtype with unexpected arguments")
    return import_global("pandas.core.arrays.string_", "StringDtype")(*args)


def _range_length(start: Any, stop: Any, step: Any) -> int:
    if not _plain(start, stop, step, kinds=(int,)) or step == 0:
        raise _refuse(f"RangeIndex({start!r}, {stop!r}, {step!r})")
    return max(0, (stop - start + step - (1 if step > 0 else -1)) // step)


def _new_index(budget: Budget, cls: Any, d: Any) -> Any:
    index, range_index = import_global(*INDEX), import_global("pandas", "RangeIndex")
    arrays = (np.ndarray, import_global("pandas.api.extensions", "ExtensionArray"))
    keys = {"data", "name", "start", "stop", "step", "dtype"}
    if cls not in (index, range_index) or not isinstance(d, dict) or not set(d) <= keys:
        raise _refuse(f"pandas _new_Index with {cls!r}")
    if cls is range_index:
        n = _range_length(d.get("start", 0), d.get("stop"), d.get("step", 1))
        budget.charge(8 * n, f"A RangeIndex of {n:,} rows")
    elif not isinstance(d.get("data"), arrays):
        raise _refuse("pandas _new_Index with data that is not an array")
    return import_global("pandas.core.indexes.base", "_new_Index")(cls, d)


def _manager(name: str) -> Callable:
    def build(budget: Budget, blocks: Any, axes: Any, *flags: Any) -> Any:
        block_type = import_global("pandas.core.internals.blocks", "Block")
        index_type = import_global(*INDEX)
        many = name == "BlockManager"
        blocks_ok = all(isinstance(b, block_type) for b in (blocks if many else [blocks]))
        axes_ok = all(isinstance(a, index_type) for a in (axes if many else [axes]))
        if not (blocks_ok and axes_ok and all(isinstance(f, bool) for f in flags)):
            raise _refuse(f"pandas {name} with unexpected arguments")
        return import_global("pandas.core.internals.managers", name)(blocks, axes, *flags)

    return build


def _container(kind: type) -> Callable:
    def build(budget: Budget, *args: Any) -> Any:
        if len(args) > 1 or not all(isinstance(a, list | tuple | dict | set) for a in args):
            raise _refuse(f"{kind.__name__} with unexpected arguments")
        return kind(*args)

    return build


def _slice(budget: Budget, *args: Any) -> slice:
    if not 1 <= len(args) <= 3 or not _plain(*args, kinds=(int, type(None))):
        raise _refuse("slice with unexpected arguments")
    return slice(*args)


def _complex(budget: Budget, *args: Any) -> complex:
    if len(args) > 2 or not _plain(*args, kinds=(int, float)):
        raise _refuse("complex with unexpected arguments")
    return complex(*args)


def _bytearray(budget: Budget, *args: Any) -> bytearray:
    source = args[0] if args else b""
    if not isinstance(source, int | bytes | bytearray | str) or isinstance(source, bool):
        raise _refuse("bytearray with unexpected arguments")
    budget.charge(source if isinstance(source, int) else len(source), "A bytearray")
    return bytearray(*args)


def data_guards(budget: Budget) -> dict[tuple[str, str], Callable]:
    """Checked stand-ins, bound to ``budget``, of the globals DataFrame pickles call."""
    guards = {
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "scalar"): _scalar,
        ("numpy._core.numeric", "_frombuffer"): _frombuffer,
        ("numpy", "dtype"): _dtype,
        ("pandas._libs.internals", "_unpickle_block"): _unpickle_block,
        ("pandas._libs.internals", "BlockPlacement"): _block_placement,
        ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"): _ndarray_backed,
        ("pandas.core.arrays.string_", "StringDtype"): _string_dtype,
        ("pandas.core.indexes.base", "_new_Index"): _new_index,
        ("pandas.core.internals.managers", "BlockManager"): _manager("BlockManager"),
        ("pandas.core.internals.managers", "SingleBlockManager"): _manager("SingleBlockManager"),
        ("builtins", "slice"): _slice,
        ("builtins", "set"): _container(set),
        ("builtins", "frozenset"): _container(frozenset),
        ("collections", "OrderedDict"): _container(collections.OrderedDict),
        ("builtins", "complex"): _complex,
        ("builtins", "bytearray"): _bytearray,
    }
    return {key: functools.partial(guard, budget) for key, guard in guards.items()}
