"""``python -m irvae_core``: the command line (see irvae_core/cli.py)."""

import sys

from irvae_core.cli import main

sys.exit(main())
