"""Temporary: ``load_dataset`` lives in :mod:`tutorial_utils.dataset`; delete this file once
``tutorial_utils/__init__.py`` imports it from there."""

from .dataset import load_dataset  # noqa: F401
