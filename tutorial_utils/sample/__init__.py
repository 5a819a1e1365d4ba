"""The built-in offline sample: synthetic speech, virtual EMA and a simulated encoder."""

from .encoder import LAYER_PROFILE, ground_truth
from .loader import SAMPLE_DIR, planted_sources, sample_tables

__all__ = ["LAYER_PROFILE", "SAMPLE_DIR", "ground_truth", "planted_sources", "sample_tables"]
