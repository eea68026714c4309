"""`python -m fstriage_cli.mcp_server`: the same server as `fstriage mcp`."""

import sys

from fstriage_cli.mcp_server.server import main

sys.exit(main())
