"""The restricted unpickler: every opcode that calls, creates or changes an object is checked.

What is allowed, and how much memory a file may make, is decided in
:mod:`tutorial_utils.io.pickle_policy`; this module applies it opcode by opcode.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from typing import IO, Any

from .pickle_guards import data_guards
from .pickle_policy import (
    DROP_MEMO_BYTES,
    NEWOBJ_CLASSES,
    UNSUPPORTED_GLOBALS,
    VALUE_CLASSES,
    Budget,
    UnsafePickleError,
    check_build,
    import_global,
    normalise,
    unsupported_format,
)


class _Dropped:
    """Memo placeholder for a large object that a well-formed file never refers to again."""


_DROPPED = _Dropped()


def _large_bytes(value: Any) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) > DROP_MEMO_BYTES


class RestrictedUnpickler(pickle._Unpickler):
    """Unpickler that resolves only allow-listed globals and checks every use of them.

    The pure-Python unpickler is used so that each opcode that calls, creates or changes an
    object can be checked, and so that memo entries holding large torch storages can be
    dropped (``drop_storages=True``): keeping every whole-recording storage of the real
    frame-states files in the memo would hold the entire file in memory.

    Parameters
    ----------
    file : binary file
    budget : Budget
        Shared by every pickle read from one file (nested torch streams included).
    guards : mapping, optional
        ``{(module, name): callable}``: extra globals that may be called (the torch stand-ins
        of :mod:`tutorial_utils.io.torch_format`); each checks its own arguments.
    values : mapping, optional
        ``{(module, name): object}``: extra globals that are only values.
    unsupported : mapping, optional
        ``{(module, name): description}``: extra globals of safe formats that are not read.
    drop_storages : bool, default True
        Drop memo entries that ``is_large`` says are large. A pickle that refers back to such
        an entry raises ValueError instead of returning wrong data.
    storage_loader : callable, optional
        ``persistent_load`` for the pickles inside ``torch.save`` files; by default persistent
        ids are refused.
    is_large : callable, optional
        Which memo values to drop (default: bytes longer than 64 KiB).
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(
        self,
        file: IO[bytes],
        budget: Budget,
        *,
        guards: Mapping[tuple[str, str], Callable] | None = None,
        values: Mapping[tuple[str, str], Any] | None = None,
        unsupported: Mapping[tuple[str, str], str] | None = None,
        drop_storages: bool = True,
        storage_loader: Callable[[Any], Any] | None = None,
        is_large: Callable[[Any], bool] | None = None,
    ) -> None:
        super().__init__(file)
        self.budget = budget
        self._guards = {**data_guards(budget), **(guards or {})}
        self._callable = {id(g): name for name, g in self._guards.items()}
        self._values = dict(values or {})
        self._unsupported = {**UNSUPPORTED_GLOBALS, **(unsupported or {})}
        self._drop = drop_storages
        self._storage_loader = storage_loader
        self._is_large = is_large or _large_bytes

    def find_class(self, module: str, name: str) -> Any:
        """The allow-listed object named ``module.name`` (a guard or a value), or refuse."""
        for key in ((module, name), normalise(module, name)):
            if key in self._guards:
                return self._guards[key]
            if key in self._values:
                return self._values[key]
            if key in VALUE_CLASSES:
                return import_global(*key)
        if (module, name) in self._unsupported:
            raise unsupported_format(self._unsupported[(module, name)])
        raise UnsafePickleError(
            f"Refusing to load the global {module}.{name}: it is not on the allow-list of "
            "tutorial_utils.io (nothing was executed). Only open pickles you trust; if this "
            "file is genuine, load it with the library that made it."
        )

    def persistent_load(self, pid: Any) -> Any:
        """A torch storage for a persistent id (only inside ``torch.save`` files)."""
        if self._storage_loader is None:
            raise UnsafePickleError(f"Refusing the persistent id {pid!r} outside a torch file.")
        return self._storage_loader(pid)

    # -- opcodes that call, create or change objects ------------------------------------------

    def _load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if id(func) not in self._callable or not isinstance(args, tuple):
            name = getattr(func, "__qualname__", type(func).__name__)
            raise UnsafePickleError(
                f"The pickle calls {name}, which may appear only as a value: refused (nothing "
                "was executed)."
            )
        self.stack[-1] = func(*args)

    def _load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self._new_empty(cls, args, {})

    def _load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self._new_empty(cls, args, kwargs)

    def _new_empty(self, cls: Any, args: Any, kwargs: Any) -> None:
        allowed = [import_global(*key) for key in NEWOBJ_CLASSES]
        if not any(cls is c for c in allowed) or args or kwargs:
            raise UnsafePickleError(f"The pickle creates a {cls!r} with arguments: refused.")
        self.append(cls.__new__(cls))

    def _load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        check_build(inst, state, self.budget)
        type(inst).__setstate__(inst, state)

    def _load_old_instance(self) -> None:
        raise unsupported_format("a protocol 0/1 pickle that creates class instances")

    dispatch[pickle.REDUCE[0]] = _load_reduce
    dispatch[pickle.NEWOBJ[0]] = _load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = _load_newobj_ex
    dispatch[pickle.BUILD[0]] = _load_build
    dispatch[pickle.INST[0]] = _load_old_instance
    dispatch[pickle.OBJ[0]] = _load_old_instance

    # -- memo handling: keep small objects, drop large storages -------------------------------

    def _memo_value(self, value: Any) -> Any:
        """The value itself, or the placeholder for a large object (or a tuple holding one,
        e.g. the argument tuple of a reduce)."""
        items = value if isinstance(value, tuple) else (value,)
        big = any(self._is_large(item) for item in items)
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
