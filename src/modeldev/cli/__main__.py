"""`python -m modeldev.cli`: the `modeldev` console script."""

import sys

from modeldev.cli.main import main

sys.exit(main())
