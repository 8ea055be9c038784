"""``python -m symmech``: the same command line as the ``symmech`` script."""

import sys

from .cli import main

__all__ = []

if __name__ == "__main__":
    sys.exit(main())
