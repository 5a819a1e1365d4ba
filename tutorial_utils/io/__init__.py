"""Plumbing a notebook never opens: get the real data into a verified cache (:mod:`.cli`).

:mod:`.download` (Drive via pooch + gdown, or ``--from-dir``), :mod:`.originals` (read and
checked once, pickles through a restricted unpickler), :mod:`.extract` (hidden states),
:mod:`.cache` (where it lives, built beside and swapped in, read back as plain tables) and
:mod:`.feature_cache` (MFCCs kept as npz).
"""
