"""Plumbing a notebook never opens: the real data, fetched, checked and cached (see :mod:`.cli`)."""
