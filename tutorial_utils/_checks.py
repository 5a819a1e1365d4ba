"""Only for ``all_pairs`` until the CKA module absorbs it: how many threads BLAS may use now.

Delete this file once nothing imports ``blas_threads`` (the analyses' checks now use
:func:`tutorial_utils.cka.as_representation`).
"""

from threadpoolctl import threadpool_info


def blas_threads() -> int:
    """How many threads BLAS may use now (at least 1)."""
    return max(
        [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"] or [1]
    )
