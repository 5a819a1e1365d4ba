"""Maintainer tools; not part of the installed package (run them from the repository root).

``python -m tools.make_sample`` regenerates the committed offline sample with VocalTractLab;
``python -m tools.check_book`` builds the Jupyter Book and checks every chapter in Chromium.
"""
