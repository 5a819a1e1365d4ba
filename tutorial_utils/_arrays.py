"""Input checks and result shaping shared by the CKA modules (plumbing, not maths).

Everything here either validates an input and says what to do about a bad one, or
turns a computed matrix into the type the caller expects. The maths lives in
:mod:`tutorial_utils.cka` and :mod:`tutorial_utils.hsic`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.linalg import lapack

RepresentationSet = Sequence[np.ndarray] | Mapping[Hashable, np.ndarray]
"""Several representations of the same stimuli: a list, or a dict keyed by label."""

NEGLIGIBLE = 1e-12
"""Relative size below which a centred representation counts as constant."""

_SYMMETRY_RTOL = 1e-6
PSD_RTOL = 1e-9
"""A centred Gram matrix may have eigenvalues down to ``-PSD_RTOL * trace`` (rounding)."""
PSD_FULL_CHECK_MAX_N = 4000
"""Up to this size :func:`check_psd` uses a Cholesky factorisation (else necessary checks)."""


def min_stimuli(debiased: bool) -> int:
    """Fewest stimuli an estimator accepts (the debiased one divides by n - 3)."""
    return 4 if debiased else 2


def max_abs(arr: np.ndarray) -> float:
    """Largest magnitude in ``arr`` (two passes, no temporary copy)."""
    return float(max(arr.max(), -arr.min()))


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise unless every value of ``arr`` is finite (NaN and inf propagate to max/min)."""
    if not (np.isfinite(arr.max()) and np.isfinite(arr.min())):
        raise ValueError(f"{name} contains NaN or infinite values; clean or impute them first.")


def check_shape(x: np.ndarray, name: str = "x", min_n: int = 2) -> np.ndarray:
    """Return ``np.asarray(x)`` after checking it is a real ``(n, d)`` array, ``n >= min_n``."""
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_stimuli, n_features); got shape "
            f"{arr.shape}. Reshape it, e.g. x.reshape(len(x), -1)."
        )
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers; got dtype {arr.dtype}.")
    n = arr.shape[0]
    if n < min_n:
        raise ValueError(
            f"{name} has {n} stimuli (rows); at least {min_n} are needed"
            + (" for the debiased estimator." if min_n > 2 else ".")
        )
    if arr.shape[1] < 1:
        raise ValueError(f"{name} has no features (shape {arr.shape}).")
    return arr


def as_representation(x: np.ndarray, name: str = "x", min_n: int = 2) -> np.ndarray:
    """Return ``x`` as a validated, finite float64 ``(n, d)`` array (a view when possible)."""
    arr = check_shape(x, name, min_n).astype(np.float64, copy=False)
    check_finite(arr, name)
    return arr


def _constant(name: str) -> ValueError:
    return ValueError(
        f"{name} is constant across stimuli (zero variance); CKA is undefined for it. "
        "Remove it, or check that the right array was passed."
    )


def centre_into(out: np.ndarray, x: np.ndarray, name: str) -> None:
    """Write ``x`` centred and divided by its largest centred magnitude into ``out``.

    The column means are taken on ``x`` divided by its largest magnitude when a
    plain sum could overflow, and the result is rescaled to a largest magnitude
    of 1, so no later product can overflow or underflow whatever the scale of
    ``x`` (CKA does not depend on it). A representation whose centred values are
    below ``NEGLIGIBLE`` times its largest value is constant: raise.
    """
    high, low = x.max(), x.min()  # NaN and inf propagate to max/min
    if not (np.isfinite(high) and np.isfinite(low)):
        raise ValueError(f"{name} contains NaN or infinite values; clean or impute them first.")
    peak = float(max(high, -low))
    if peak == 0:
        raise _constant(name)
    if peak * x.shape[0] < 1e300:
        mean = x.mean(axis=0, dtype=np.float64)
    else:  # the column sums could overflow: average scaled values
        mean = np.mean(np.asarray(x, dtype=np.float64) / peak, axis=0) * peak
    np.subtract(x, mean, out=out)  # converts to float64 in the same pass
    spread = max_abs(out)
    if spread <= NEGLIGIBLE * peak:
        raise _constant(name)
    out /= spread


def centred(x: np.ndarray, name: str = "x", min_n: int = 2) -> np.ndarray:
    """A new float64 array: ``x`` validated, centred and rescaled (see :func:`centre_into`)."""
    arr = check_shape(x, name, min_n)
    out = np.empty(arr.shape, dtype=np.float64)
    centre_into(out, arr, name)
    return out


def as_gram(gram: np.ndarray, name: str = "gram", min_n: int = 2) -> np.ndarray:
    """Return ``gram`` as a validated, symmetric float64 ``(n, n)`` array."""
    arr = as_representation(gram, name, min_n=min_n)
    if arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be square (n, n); got shape {arr.shape}.")
    scale = max_abs(arr)
    if not np.allclose(arr, arr.T, rtol=_SYMMETRY_RTOL, atol=_SYMMETRY_RTOL * scale):
        raise ValueError(
            f"{name} is not symmetric, so it is not a Gram (kernel) matrix. Build it with "
            "gram_linear or gram_rbf, or symmetrise it with (g + g.T) / 2."
        )
    return arr


def check_psd(centred_gram: np.ndarray, name: str) -> None:
    """Raise unless the centred Gram matrix is positive semi-definite (up to rounding).

    Up to ``PSD_FULL_CHECK_MAX_N`` stimuli: a Cholesky factorisation of
    ``C + PSD_RTOL·tr(C)·I`` (about n³/3 operations, a fraction of a second at
    n = 3000) succeeds exactly when no eigenvalue of ``C`` is below
    ``-PSD_RTOL·tr(C)``. Beyond that only necessary conditions are checked:
    a non-negative diagonal and ``|C_ij| <= sqrt(C_ii C_jj)``.
    """
    n = centred_gram.shape[0]
    diag = np.diag(centred_gram)
    tolerance = PSD_RTOL * max(float(diag.sum()), 0.0)
    if n <= PSD_FULL_CHECK_MAX_N:
        shifted = centred_gram + tolerance * np.eye(n)
        ok = diag.min() >= -tolerance and lapack.dpotrf(shifted.T, lower=1, overwrite_a=1)[1] == 0
    else:
        root = np.sqrt(np.maximum(diag, 0.0))
        bound = np.outer(root, root) + tolerance
        ok = diag.min() >= -tolerance and bool(np.all(np.abs(centred_gram) <= bound))
    if not ok:
        raise ValueError(
            f"{name} is not positive semi-definite after centring, so it is not a Gram "
            "(kernel) matrix and CKA would be meaningless. Build it with gram_linear or "
            "gram_rbf (a distance matrix D becomes a Gram matrix as -D/2)."
        )


def labelled(reps: RepresentationSet, name: str) -> tuple[list, list]:
    """Split a sequence or mapping of representations into labels and arrays."""
    if isinstance(reps, Mapping):
        labels, arrays = list(reps.keys()), list(reps.values())
    elif getattr(reps, "ndim", None) == 2:
        raise ValueError(
            f"{name} must be a sequence or dict of (n, d) arrays, not a single array; "
            f"wrap it in a list: [{name}]."
        )
    else:
        arrays = list(reps)
        labels = list(range(len(arrays)))
    if not arrays:
        raise ValueError(f"{name} is empty; pass at least one (n, d) array.")
    return labels, arrays


def check_same_n(reps: Mapping[object, np.ndarray]) -> int:
    """The common number of rows of ``reps``; raise if they differ."""
    sizes = {label: arr.shape[0] for label, arr in reps.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(
            "All representations must describe the same stimuli, but their numbers of rows "
            f"differ: {sizes}. Align or trim them first (e.g. trim_to_common_length)."
        )
    return next(iter(sizes.values()))


def symmetrised(result: np.ndarray) -> np.ndarray:
    """A self-comparison matrix made exactly symmetric, with 1 (or nan) on the diagonal."""
    result = (result + result.T) / 2
    defined = np.isfinite(np.diag(result))
    result[np.diag_indices_from(result)] = np.where(defined, 1.0, np.nan)
    return result


def shaped(
    result: np.ndarray, labels_a: list, labels_b: list, as_frame: bool
) -> np.ndarray | pd.DataFrame:
    """``result`` as a DataFrame labelled with the keys when the input was a dict."""
    if as_frame:
        return pd.DataFrame(result, index=labels_a, columns=labels_b)
    return result
