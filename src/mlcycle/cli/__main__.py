"""``python -m mlcycle.cli``."""

import sys

from mlcycle.cli.main import main

sys.exit(main())
