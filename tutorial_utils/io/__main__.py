"""``python -m tutorial_utils.io``: get the real data and convert it into the verified cache."""

import sys

from .cli import main

sys.exit(main())
