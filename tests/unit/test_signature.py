import base64
import hashlib
import hmac

import pytest

from fstriage.core.errors import SignatureError
from fstriage.core.signature import (
    check_envelope,
    compute_digest,
    matches_any,
    parse_signature_header,
    sign,
    timestamp_to_seconds,
)

SECRET = "s3cret"
ORG = "o-TEST-na1"
BODY = b'{"eventName":"test","data":{}}'


def test_signature_is_base64_hmac_sha256_over_body_org_and_timestamp() -> None:
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), BODY + b":" + ORG.encode() + b":1700000000", hashlib.sha256).digest()
    ).decode()
    assert sign(SECRET, BODY, ORG, 1700000000) == f"o:{ORG},t:1700000000,v:{expected}"


def test_parse_tolerates_whitespace_and_key_case() -> None:
    value = sign(SECRET, BODY, ORG, 1700000000)
    spaced = " " + value.replace(",", " , ").replace("o:", "O: ") + " "
    header = parse_signature_header(spaced)
    assert header.org_id == ORG
    assert header.timestamp == "1700000000"
    assert header.digest == compute_digest(SECRET, BODY, ORG, "1700000000")


def test_unknown_parts_are_ignored() -> None:
    header = parse_signature_header(sign(SECRET, BODY, ORG, 1700000000) + ",x:future")
    assert header.org_id == ORG


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "missing_signature"),
        ("", "missing_signature"),
        ("   ", "missing_signature"),
        ("t:1,v:AAAA", "malformed_signature"),  # no o
        ("o:x,v:AAAA", "malformed_signature"),  # no t
        ("o:x,t:1", "malformed_signature"),  # no v
        ("o:x,o:y,t:1,v:AAAA", "malformed_signature"),  # duplicated o
        ("o:x,t:1,t:2,v:AAAA", "malformed_signature"),  # duplicated t
        ("o:x,t:1,v:AAAA,v:BBBB", "malformed_signature"),  # duplicated v
        ("o:x;t:1;v:AAAA", "malformed_signature"),  # garbled separators
        ("o:x,t:1,vAAAA", "malformed_signature"),  # garbled part
        ("o:,t:1,v:AAAA", "malformed_signature"),  # empty o
        ("o:x,t:abc,v:" + "A" * 44, "malformed_signature"),  # non-numeric t
        ("o:x,t:-5,v:" + "A" * 44, "malformed_signature"),
        ("o:x,t:1e9,v:" + "A" * 44, "malformed_signature"),
        ("o:x,t:1,v:not*base64!", "malformed_signature"),
        ("o:x,t:1,v:" + base64.b64encode(b"short").decode(), "malformed_signature"),  # wrong length
        ("o:x,t:1,v:" + "A" * 2000, "malformed_signature"),  # oversize header
    ],
)
def test_malformed_headers_are_rejected(value: str | None, reason: str) -> None:
    with pytest.raises(SignatureError) as raised:
        parse_signature_header(value)
    assert raised.value.reason == reason
    assert raised.value.status == 401


def test_timestamps_in_seconds_or_milliseconds() -> None:
    assert timestamp_to_seconds("1700000000") == 1700000000
    assert timestamp_to_seconds("1700000000123") == pytest.approx(1700000000.123)


@pytest.mark.parametrize("offset", [-301, 301, -86400 * 365])
def test_stale_or_future_timestamps_fail(offset: int) -> None:
    now = 1_700_000_000
    header = parse_signature_header(sign(SECRET, BODY, ORG, now + offset))
    with pytest.raises(SignatureError) as raised:
        check_envelope(header, expected_org_id=ORG, tolerance_seconds=300, now=now)
    assert raised.value.reason == "stale_timestamp"


def test_millisecond_timestamp_within_tolerance_passes() -> None:
    now = 1_700_000_000
    header = parse_signature_header(sign(SECRET, BODY, ORG, (now - 10) * 1000))
    check_envelope(header, expected_org_id=ORG, tolerance_seconds=300, now=now)


def test_wrong_org_fails_even_with_a_valid_digest() -> None:
    header = parse_signature_header(sign(SECRET, BODY, "o-OTHER-na1", 1_700_000_000))
    assert matches_any(header, BODY, [SECRET])
    with pytest.raises(SignatureError) as raised:
        check_envelope(header, expected_org_id=ORG, tolerance_seconds=300, now=1_700_000_000)
    assert raised.value.reason == "wrong_org"


def test_digest_matches_current_or_previous_secret_only() -> None:
    header = parse_signature_header(sign("old-secret", BODY, ORG, 1_700_000_000))
    assert matches_any(header, BODY, ["new-secret", "old-secret"])
    assert not matches_any(header, BODY, ["new-secret"])
    assert not matches_any(header, BODY, [])


def test_tampered_body_does_not_match() -> None:
    header = parse_signature_header(sign(SECRET, BODY, ORG, 1_700_000_000))
    assert not matches_any(header, BODY.replace(b"test", b"tesT"), [SECRET])
    assert not matches_any(header, BODY + b" ", [SECRET])
