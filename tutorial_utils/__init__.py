"""The speech CKA tutorial's helpers: the learner's API on one screen.

Core names, as in the original chapter::

    from tutorial_utils import load_dataset, gram_linear, gram_rbf, center_gram, cka
    from tutorial_utils import feature_space_linear_cka, cka_matrix, rdm, compare_rdms

For all frames of a corpus, chunk by chunk (exact, memory independent of the frame count)::

    from tutorial_utils import streaming_cka_matrix, CKAAccumulator

Chapter modules, each one question::

    from tutorial_utils import frames, targets, sentences, recordings, layers, nulls
    from tutorial_utils import sanity, measures, agreement, stats, plots, notice

=============  ===================================================================  =======
module         what it answers                                                      chapter
=============  ===================================================================  =======
``frames``     the 20 ms grid: frame counts, MFCC and EMA frames                    00
``targets``    MFCC / EMA of a recording on the hidden-state grid, frame counts     00, 02
``sentences``  sentence means, sentence Grams, speaker vs sentence, RSA              01
``recordings`` per recording: CKA of every layer with every target; lag curve      02
``layers``     layer × layer CKA within and across speakers                         03
``nulls``      baselines: circular shift, mismatched recording, shuffled pairing    02-06
``sanity``     invariances, CKA of noise, recovering a planted profile              04
``measures``   other similarity measures: Procrustes, kNN, probing, held-out SVCCA  05, 06
``agreement``  do several measures rank the layers alike; chapter 02's claims       05, 06
``stats``      means and confidence intervals over recordings, gap to a null        02
``plots``      the figures: a table in, Axes out                                    all
``notice``     which data a notebook runs on; the real data's reported numbers      all
=============  ===================================================================  =======
"""

from . import (
    agreement,
    frames,
    layers,
    measures,
    notice,
    nulls,
    plots,
    recordings,
    sanity,
    sentences,
    stats,
    targets,
)
from .cka import center_gram, cka, cka_matrix, feature_space_linear_cka, gram_linear, gram_rbf
from .dataset import Dataset, sentence_id
from .loading import load_dataset
from .rsa import compare_rdms, rdm
from .scale import CKAAccumulator, streaming_cka_matrix

__all__ = [
    "CKAAccumulator",
    "agreement",
    "Dataset",
    "center_gram",
    "cka",
    "cka_matrix",
    "compare_rdms",
    "feature_space_linear_cka",
    "frames",
    "gram_linear",
    "gram_rbf",
    "layers",
    "load_dataset",
    "measures",
    "notice",
    "nulls",
    "plots",
    "rdm",
    "recordings",
    "sanity",
    "sentence_id",
    "sentences",
    "stats",
    "targets",
    "streaming_cka_matrix",
]
__version__ = "0.1.0"
