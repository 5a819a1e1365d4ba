"""Get the real tutorial data into the local cache: ``python data_download.py --help``."""

import sys

from tutorial_utils.download import main

if __name__ == "__main__":
    sys.exit(main())
