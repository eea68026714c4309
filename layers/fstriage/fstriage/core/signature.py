"""Fullstory webhook signatures.

Header: `Fullstory-Signature: o:<orgId>,t:<timestamp>,v:<base64 HMAC-SHA256>`, where the HMAC is
keyed by the endpoint secret and taken over `raw_body + b":" + orgId + b":" + timestamp`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable
from dataclasses import dataclass

from fstriage.core.errors import SignatureError

HEADER_NAME = "Fullstory-Signature"
_DIGEST_BYTES = hashlib.sha256().digest_size
_MAX_HEADER_CHARS = 1024
_MAX_TIMESTAMP_DIGITS = 16
# Epoch values above this are milliseconds: 1e11 seconds is the year 5138.
_MILLISECONDS_THRESHOLD = 100_000_000_000


@dataclass(frozen=True, slots=True)
class SignatureHeader:
    """The parts of a `Fullstory-Signature` header."""

    org_id: str
    timestamp: str
    digest: bytes

    @property
    def signed_at(self) -> float:
        """The signing time in epoch seconds, whether `t` was sent in seconds or milliseconds."""
        return timestamp_to_seconds(self.timestamp)


def timestamp_to_seconds(timestamp: str) -> float:
    value = int(timestamp)
    return value / 1000 if value >= _MILLISECONDS_THRESHOLD else float(value)


def parse_signature_header(value: str | None) -> SignatureHeader:
    """Parse `o:..,t:..,v:..`. Unknown keys are ignored; missing, duplicated or garbled ones are not."""
    if value is None or not value.strip():
        raise SignatureError("missing Fullstory-Signature header", reason="missing_signature")
    if len(value) > _MAX_HEADER_CHARS:
        raise SignatureError("Fullstory-Signature header is too long", reason="malformed_signature")
    parts: dict[str, str] = {}
    for raw_part in value.split(","):
        key, separator, part_value = raw_part.partition(":")
        key, part_value = key.strip().lower(), part_value.strip()
        if not separator or not key or not part_value:
            raise SignatureError("Fullstory-Signature has a garbled part", reason="malformed_signature")
        if key in parts:
            raise SignatureError(f"Fullstory-Signature repeats '{key}'", reason="malformed_signature")
        parts[key] = part_value
    missing = [key for key in ("o", "t", "v") if key not in parts]
    if missing:
        raise SignatureError(f"Fullstory-Signature lacks {', '.join(missing)}", reason="malformed_signature")
    timestamp = parts["t"]
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        raise SignatureError("Fullstory-Signature timestamp is not numeric", reason="malformed_signature")
    try:
        digest = base64.b64decode(parts["v"], validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(
            "Fullstory-Signature value is not base64", reason="malformed_signature"
        ) from None
    if len(digest) != _DIGEST_BYTES:
        raise SignatureError("Fullstory-Signature value has the wrong length", reason="malformed_signature")
    return SignatureHeader(org_id=parts["o"], timestamp=timestamp, digest=digest)


def _signed_message(body: bytes, org_id: str, timestamp: str) -> bytes:
    # surrogatepass: a hostile header cannot crash the check, it just fails to match.
    return body + b":" + org_id.encode(errors="surrogatepass") + b":" + timestamp.encode()


def compute_digest(secret: str, body: bytes, org_id: str, timestamp: str) -> bytes:
    return hmac.new(secret.encode(), _signed_message(body, org_id, timestamp), hashlib.sha256).digest()


def sign(secret: str, body: bytes, org_id: str, timestamp: int | str | None = None) -> str:
    """Return a `Fullstory-Signature` header value, as Fullstory would send it. For tests and tools."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = base64.b64encode(compute_digest(secret, body, org_id, stamp)).decode()
    return f"o:{org_id},t:{stamp},v:{digest}"


def check_envelope(
    header: SignatureHeader, *, expected_org_id: str, tolerance_seconds: float, now: float
) -> None:
    """The checks that need no secret: the pinned org and the timestamp tolerance."""
    if not hmac.compare_digest(header.org_id.encode(errors="surrogatepass"), expected_org_id.encode()):
        raise SignatureError("signature is for another org", reason="wrong_org")
    if abs(now - header.signed_at) > tolerance_seconds:
        raise SignatureError("signature timestamp is outside the tolerance", reason="stale_timestamp")


def matches_any(header: SignatureHeader, body: bytes, secrets: Iterable[str]) -> bool:
    """Constant-time check of the digest against each candidate secret (current, then previous)."""
    matched = False
    for secret in secrets:
        expected = compute_digest(secret, body, header.org_id, header.timestamp)
        # No early exit, so timing does not reveal which secret version matched.
        matched |= hmac.compare_digest(expected, header.digest)
    return matched
