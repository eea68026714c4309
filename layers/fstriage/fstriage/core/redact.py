"""Masking for values that may reach logs."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def mask_email(value: str) -> str:
    """`jane.doe@example.com` -> `j***@example.com`; any emails inside free text are masked too."""
    return _EMAIL.sub(r"\1***@\2", value)
