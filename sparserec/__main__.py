"""``python -m sparserec``: the ``sparserec`` command (:mod:`sparserec.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
