"""One conversion at a time per cache directory: an exclusive ``flock`` on ``<data_dir>/.lock``.

A second ``python -m tutorial_utils.io`` on the same directory waits up to
:data:`LOCK_WAIT_S` seconds for the first to finish, then stops with a message (exit code 2)
instead of interleaving its files with the other run's. The lock is released by the kernel when
its process ends, however it ends (``kill -9`` included), so a stale lock file never blocks.
Readers (``load_dataset``) take no lock: a conversion switches caches in one atomic rename.
On platforms without ``fcntl`` (Windows) no lock is taken.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .download import DownloadFailed

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = ".lock"
LOCK_WAIT_S = 10.0
"""How long a second conversion waits for the first before giving up."""


class CacheBusy(DownloadFailed):
    """Another process holds the lock of the cache directory."""


def _try_flock(handle: IO[str]) -> bool:
    if fcntl is None:  # pragma: no cover - Windows
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _open_lock_file(data_dir: Path) -> IO[str]:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        return open(data_dir / LOCK_NAME, "a+")
    except OSError as err:
        raise DownloadFailed(
            f"Cannot write into the cache directory {data_dir} ({err.strerror or err}). Choose "
            "a writable directory with --data-dir or $TUTORIAL_DATA_DIR."
        ) from err


def _holder(handle: IO[str]) -> str:
    handle.seek(0)
    pid = handle.read().strip()
    return f"process {pid}" if pid.isdigit() else "another process"


def _acquire(handle: IO[str], wait: float, note_pid: bool = True) -> bool:
    """Try to lock for ``wait`` seconds; on success note this process's id in the file."""
    deadline = time.monotonic() + wait
    while not _try_flock(handle):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    if not note_pid:
        return True
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return True


@contextmanager
def cache_lock(data_dir: str | os.PathLike, wait: float = LOCK_WAIT_S) -> Iterator[None]:
    """Hold the exclusive lock of ``data_dir`` for the duration of the ``with`` block.

    Parameters
    ----------
    data_dir : path
        Cache directory (created if missing).
    wait : float, default LOCK_WAIT_S
        Seconds to wait for another holder before raising :class:`CacheBusy`.
    """
    handle = _open_lock_file(Path(data_dir))
    try:
        if not _acquire(handle, wait):
            raise CacheBusy(
                f"Another conversion ({_holder(handle)}) is writing the cache in {data_dir}. "
                "Wait for it to finish and run the command again, or use another --data-dir."
            )
        yield
    finally:
        handle.close()  # closing the file releases the lock


@contextmanager
def lock_if_free(data_dir: str | os.PathLike) -> Iterator[bool]:
    """Take the lock only if nobody holds it and the directory is writable; yields whether."""
    try:
        handle = _open_lock_file(Path(data_dir))
    except DownloadFailed:
        yield False
        return
    try:
        yield _acquire(handle, 0, note_pid=False)
    finally:
        handle.close()
