"""Test-wide safety: fake AWS credentials and a region, so no test can reach real AWS."""

from __future__ import annotations

import os

for _name in (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_DEV": "false",
    }
)

# moto's conditional writes race under threads; DynamoDB's do not (fstriage_cli.local.moto_atomic).
from fstriage_cli.local.moto_atomic import make_dynamodb_items_atomic  # noqa: E402

make_dynamodb_items_atomic()
