"""Scale machinery, out of the learner's way (``import tutorial_utils`` does not load it): exact
linear CKA over more frames than fit in memory, from sums over frames (:mod:`.moments`) fed chunk
by chunk (:mod:`.streaming`) or reduced by dask (:mod:`.dask_route`, for ``cka_matrix``)."""

from .streaming import PRECISIONS, CKAAccumulator, streaming_cka_matrix

__all__ = ["PRECISIONS", "CKAAccumulator", "streaming_cka_matrix"]
