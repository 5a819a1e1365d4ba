"""How much memory an in-memory ``cka_matrix`` needs, and how much the machine has.

``cka_matrix`` refuses up front, with a message that names the streaming path,
when its float64 working memory would not fit, instead of failing after a long
wait with a bare ``MemoryError`` (or being killed by the operating system).
"""

from __future__ import annotations

import math
import os

__all__ = ["MEMORY_LIMIT", "NotEnoughMemoryError", "available_memory", "check_memory"]

MEMORY_LIMIT: float | None = None
"""Bytes ``cka_matrix`` may use; ``None`` means what :func:`available_memory` reports.

Set it (e.g. ``tutorial_utils._memory.MEMORY_LIMIT = 4 * 2**30``) to budget less
than the whole machine, or in tests.
"""


class NotEnoughMemoryError(ValueError, MemoryError):
    """The computation would need more memory than is available (both a ValueError and a
    MemoryError, so either ``except`` catches it)."""


def available_memory() -> float:
    """Bytes of memory available to new allocations (``inf`` when unknown).

    Reads ``MemAvailable`` from ``/proc/meminfo`` (Linux: free memory plus
    reclaimable caches); elsewhere ``os.sysconf``'s available physical pages.
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return math.inf


def working_bytes(n: int, dims_a: list[int], dims_b: list[int] | None, route: float) -> float:
    """Float64 working memory: the centred copies of all inputs plus the route's arrays."""
    total = sum(dims_a) + (sum(dims_b) if dims_b is not None else 0)
    return 8.0 * n * total + route


def check_memory(n: int, dims_a: list[int], dims_b: list[int] | None, route: float) -> None:
    """Raise :class:`NotEnoughMemoryError` when ``cka_matrix`` would not fit in memory."""
    need = working_bytes(n, dims_a, dims_b, route)
    limit = available_memory() if MEMORY_LIMIT is None else MEMORY_LIMIT
    if need > limit:
        gib = 2.0**30
        raise NotEnoughMemoryError(
            f"cka_matrix would need about {need / gib:.1f} GiB of working memory for "
            f"{n} stimuli and {len(dims_a) + len(dims_b or [])} representations, but only "
            f"{limit / gib:.1f} GiB are available. Use tutorial_utils.streaming_cka_matrix, "
            "which feeds the frames in chunks (e.g. one recording at a time) and needs "
            "memory independent of the number of frames; or pass dask arrays."
        )
