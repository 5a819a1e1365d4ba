"""Get the real tutorial data into the verified cache (same as ``python -m tutorial_utils.io``)."""

import sys

from tutorial_utils.io.cli import main

if __name__ == "__main__":
    sys.exit(main())
