"""`python -m fstriage_dev.local`: the same as `fstriage local`."""

import sys

from fstriage_dev.local.command import main

raise SystemExit(main(sys.argv[1:]))
