"""Plumbing a notebook never opens: get the real data and convert it into a verified cache.

:mod:`.download` (Google Drive via pooch + gdown, or ``--from-dir``), :mod:`.originals` (the
original pickles, read by :mod:`.unpickle` without running their code), :mod:`.validate`
(values), :mod:`.extract` (hidden states), :mod:`.convert` (one locked run, the new cache
swapped in by one rename), :mod:`.cache` (where the cache lives, reading it back as plain
tables), :mod:`.feature_cache` (MFCCs kept as npz) and :mod:`.cli` (``--help``).
"""
