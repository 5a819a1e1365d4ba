"""Helpers for the speech CKA tutorial: CKA, RSA, data, frame alignment and plots.

The notebooks import what they need from here::

    from tutorial_utils import load_dataset, cka_matrix, feature_space_linear_cka
"""

from tutorial_utils.cka import (
    center_gram,
    choose_route,
    cka,
    cka_matrix,
    feature_space_linear_cka,
    gram_linear,
    gram_rbf,
)
from tutorial_utils.data import Dataset, load_dataset, sentence_id
from tutorial_utils.features import (
    ema_frames,
    frame_times,
    mfcc_frames,
    mfcc_frames_original,
    n_model_frames,
    trim_to_common_length,
)
from tutorial_utils.rsa import compare_rdms, rdm
from tutorial_utils.safe_pickle import UnsafePickleError
from tutorial_utils.streaming import CKAAccumulator, streaming_cka_matrix

__all__ = [
    "CKAAccumulator",
    "Dataset",
    "UnsafePickleError",
    "center_gram",
    "choose_route",
    "cka",
    "cka_matrix",
    "compare_rdms",
    "ema_frames",
    "feature_space_linear_cka",
    "frame_times",
    "gram_linear",
    "gram_rbf",
    "load_dataset",
    "mfcc_frames",
    "mfcc_frames_original",
    "n_model_frames",
    "rdm",
    "sentence_id",
    "streaming_cka_matrix",
    "trim_to_common_length",
]
__version__ = "0.1.0"
