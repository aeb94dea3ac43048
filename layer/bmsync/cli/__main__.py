"""``python -m bmsync.cli``: the ``bmsync`` command."""

import sys

from bmsync.cli import main

sys.exit(main())
