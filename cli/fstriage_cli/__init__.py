"""The `fstriage` command: the operator CLI, `reports`, the MCP server, and (with the `[local]` extra) the
local stack and the Fullstory sandbox.

Shipped in the `fstriage` wheel with the library, never to AWS: the Lambda layer holds only `fstriage`.
"""
