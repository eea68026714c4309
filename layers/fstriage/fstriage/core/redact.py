"""Masking for values that may reach logs, reports and signatures: one email pattern for the library."""

from __future__ import annotations

import re
from typing import Final

# Starts only where a local-part run starts, so `a.a.a.a...` without an `@` stays linear. No groups:
# the digest embeds it in its own alternations.
EMAIL_PATTERN: Final = (
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
_EMAIL = re.compile(EMAIL_PATTERN)


def _masked(match: re.Match[str]) -> str:
    local, _, domain = match.group().partition("@")
    return f"{local[0]}***@{domain}"


def mask_email(value: str) -> str:
    """`jane.doe@example.com` -> `j***@example.com`; any emails inside free text are masked too."""
    return _EMAIL.sub(_masked, value) if "@" in value else value
