"""Scale machinery, out of the learner's way: ``import tutorial_utils`` does not load it.

- :class:`CKAAccumulator` / :func:`streaming_cka_matrix`: exact layer × layer linear CKA over
  more frames than fit in memory, fed chunk by chunk (numpy arrays, or torch tensors summed on
  their own device);
- ``cka_matrix`` on dask arrays comes here (:mod:`.dask_route`) on its own.

Both keep only sums over frames (:mod:`.moments`) and give the numbers of
:func:`tutorial_utils.cka.cka_matrix` over all the frames, biased and debiased.
"""

from .streaming import PRECISIONS, CKAAccumulator, streaming_cka_matrix

__all__ = ["PRECISIONS", "CKAAccumulator", "streaming_cka_matrix"]
