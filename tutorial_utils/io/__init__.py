"""Plumbing a notebook never opens: download, convert, cache, safe unpickling, extraction.

Run ``python -m tutorial_utils.io --help`` for the data command line.
"""
