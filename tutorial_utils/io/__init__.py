"""Plumbing a notebook never opens: get the real data into a verified cache (:mod:`.cli`).

:mod:`.download` (Drive via pooch + gdown, or ``--from-dir``), :mod:`.originals` (read and
checked once; pickles through :mod:`.unpickle`), :mod:`.extract` (hidden states), :mod:`.cache`
(where it lives, written beside and swapped in, read back as plain tables), :mod:`.feature_cache`.
"""
