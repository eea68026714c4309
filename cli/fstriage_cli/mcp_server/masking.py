"""Emails masked in everything the server hands an agent, whatever the shape of the JSON it returns.

A stored report keeps its users' emails (the operator's own copy); an agent's context is not the place
for them. Every string, keys included, goes through the library's `mask_email`, which also masks an
email inside free text and a uid that is an email.
"""

from __future__ import annotations

from typing import Any

from fstriage.core.redact import mask_email


def mask_emails(value: Any) -> Any:
    """`value` with every email-looking text in it masked (`jane.doe@example.com` -> `j***@example.com`)."""
    if isinstance(value, str):
        return mask_email(value)
    if isinstance(value, dict):
        return {mask_emails(key): mask_emails(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_emails(item) for item in value]
    return value
