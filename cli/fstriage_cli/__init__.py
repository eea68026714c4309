"""Developer tooling: the local stack, the Fullstory sandbox, event generators and the `fstriage` CLI.

Never shipped to AWS: the Lambda layer holds only `fstriage`.
"""
