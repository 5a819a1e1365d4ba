"""``python -m tutorial_utils.io``: get the real data into the verified cache (see ``--help``)."""

from .cli import main

raise SystemExit(main())
