"""The figures the notebooks share: a tidy table or a matrix in, Axes (or a Figure) out.

Curves are drawn with :func:`seaborn.lineplot` on the *per-recording* table, so the mean and
its band are seaborn's: pass ``errorbar=`` (anything seaborn accepts, e.g.
:func:`tutorial_utils.stats.errorbar` for the tutorial's t-interval). Every matrix (Gram, RDM,
layer × layer) is a :func:`seaborn.heatmap`; audio uses :mod:`librosa.display`. Nothing here
computes a statistic: the figures show what the tables hold.
"""

from .base import show
from .curves import cka_by_layer, lag_curve, layer_profile, noise_cka
from .matrices import gram, gram_grid, layer_heatmap, layer_heatmaps
from .measures import measures_with_nulls, rescaled_profiles
from .signals import ema_trajectories, frame_grid, waveform_spectrogram

__all__ = [
    "cka_by_layer",
    "ema_trajectories",
    "frame_grid",
    "gram",
    "gram_grid",
    "lag_curve",
    "layer_heatmap",
    "layer_heatmaps",
    "layer_profile",
    "measures_with_nulls",
    "noise_cka",
    "rescaled_profiles",
    "show",
    "waveform_spectrogram",
]
