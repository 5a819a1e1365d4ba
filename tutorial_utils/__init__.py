"""The speech CKA tutorial's helpers: the learner's API on one screen.

Core names, as in the original chapter::

    from tutorial_utils import load_dataset, gram_linear, gram_rbf, center_gram, cka
    from tutorial_utils import feature_space_linear_cka, cka_matrix, rdm, compare_rdms

For all frames of a corpus, chunk by chunk (``tutorial_utils.scale``, loaded on first use)::

    from tutorial_utils import streaming_cka_matrix, CKAAccumulator

Chapter modules, each one question, loaded on first use:

=============  ===================================================================  =======
module         what it answers                                                      chapter
=============  ===================================================================  =======
``frames``     the 20 ms grid: frame counts, MFCC and EMA frames                    00
``targets``    MFCC / EMA of a recording on the hidden-state grid                   00, 02
``sentences``  sentence means, sentence Grams, speaker vs sentence, RSA              01
``recordings`` per recording: CKA of every layer with every target                  02
``layers``     layer × layer CKA within and across speakers                         03
``nulls``      baselines: circular shift, mismatched recording, shuffled pairing    02-06
``sanity``     invariances, CKA of noise, recovering a planted profile              04
``measures``   other similarity measures: Procrustes, kNN, probing, held-out SVCCA  05, 06
``agreement``  null thresholds; do measures rank layers alike; peak layers          05, 06
``stats``      means and intervals over recordings, peak layers                     02-06
``plots``      the figures: a table in, Axes out                                    all
``notice``     which data a notebook runs on; the real data's reported numbers      all
=============  ===================================================================  =======
"""

import importlib

from .cka import center_gram, cka, cka_matrix, feature_space_linear_cka, gram_linear, gram_rbf

_MODULES = "agreement frames layers measures notice nulls plots recordings sample sanity".split()
_MODULES += ["sentences", "stats", "targets", "widgets"]
_NAMES = {"Dataset": "dataset", "load_dataset": "dataset", "sentence_id": "dataset",
          "rdm": "rsa", "compare_rdms": "rsa",
          "CKAAccumulator": "scale", "streaming_cka_matrix": "scale"}  # fmt: skip

__all__ = ["center_gram", "cka", "cka_matrix", "feature_space_linear_cka", "gram_linear",
           "gram_rbf", *_NAMES, *_MODULES]  # fmt: skip
__version__ = "0.1.0"


def __getattr__(name: str):
    """Load a chapter module, or the module of a core name, on first use."""
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
