"""Every name the sample generator takes from ``tutorial_utils``, imported in one place.

The generator writes files that the package reads, so it shares the package's frame grid,
EMA column names, atomic write and hashing rather than keeping copies. When the package's
modules move, only the imports below change.
"""

from __future__ import annotations

from tutorial_utils.frames import (
    EMA_COLUMNS,
    EMA_SENSORS,
    EMA_TABLE_COLUMNS,
    FRAME_RATE_HZ,
    SAMPLE_RATE,
    n_model_frames,
)
from tutorial_utils.io.cache import atomic_write, sha256_file
from tutorial_utils.sample import SAMPLE_DIR

__all__ = [
    "EMA_COLUMNS",
    "EMA_SENSORS",
    "EMA_TABLE_COLUMNS",
    "FRAME_RATE_HZ",
    "SAMPLE_DIR",
    "SAMPLE_RATE",
    "atomic_write",
    "n_model_frames",
    "sha256_file",
]
