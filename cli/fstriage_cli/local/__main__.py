"""`python -m fstriage_cli.local`: the same as `fstriage local`."""

import sys

from fstriage_cli.local import main

raise SystemExit(main(sys.argv[1:]))
