"""Helpers for the speech CKA tutorial: CKA, RSA, data, features and plots."""

from tutorial_utils.cka import (
    center_gram,
    cka,
    cka_matrix,
    feature_space_linear_cka,
    gram_linear,
    gram_rbf,
)
from tutorial_utils.rsa import compare_rdms, rdm

__all__ = [
    "center_gram",
    "cka",
    "cka_matrix",
    "compare_rdms",
    "feature_space_linear_cka",
    "gram_linear",
    "gram_rbf",
    "rdm",
]
__version__ = "0.1.0"
