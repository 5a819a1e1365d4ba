"""The built-in offline sample (synthetic speech, virtual EMA, simulated encoder)."""

from .encoder import LAYER_PROFILE, ground_truth
from .loader import SAMPLE_DIR, load_sample_dataset, planted_sources
from .sources import SOURCES

__all__ = [
    "LAYER_PROFILE",
    "SAMPLE_DIR",
    "SOURCES",
    "ground_truth",
    "load_sample_dataset",
    "planted_sources",
]
