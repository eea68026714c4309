"""One email mask for the whole library: logs, reports and digest signatures agree on what an email is."""

from __future__ import annotations

import pytest

from fstriage.core.digest.text import normalise_message
from fstriage.core.redact import mask_email


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("jane.doe@example.com", "j***@example.com"),
        (
            "mail Jane.Doe+tag@mail.example.co.uk, then x@y.io.",
            "mail J***@mail.example.co.uk, then x***@y.io.",
        ),
        ("<a@b.example>", "<a***@b.example>"),
        ("no email here", "no email here"),
        ("user@localhost", "user@localhost"),
        ("a@b.co1", "a@b.co1"),
        ("@example.com", "@example.com"),
    ],
)
def test_mask_email_keeps_the_first_character_and_the_domain(text: str, masked: str) -> None:
    assert mask_email(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "Payment failed for jane.doe@example.com",
        "user@localhost refused",
        "a@b.co1 is not one",
        "x.y.z@sub.example.org and more",
        "@example.com",
    ],
)
def test_the_digest_masks_exactly_what_the_log_mask_masks(text: str) -> None:
    assert ("{email}" in normalise_message(text)) == (mask_email(text) != text)
