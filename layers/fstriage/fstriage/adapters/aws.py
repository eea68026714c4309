"""boto3 clients, created once per container on first use, with timeouts that fit a webhook."""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

# Fullstory gives up after about 5 s, so a slow AWS call must fail fast and become a 503.
_WEBHOOK_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"})


@functools.cache
def client(service: str) -> Any:
    return boto3.client(service, config=_WEBHOOK_CONFIG)


def error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
