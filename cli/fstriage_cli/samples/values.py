"""The published test values: org, signing secret, stream token, addresses, times and stand-in resources.

The secret, stream token and org are public (they sign every file in `events/`): anyone can forge a
delivery with them, so they must never be a deployment's. The tests, the `events/` generator, the
benchmarks and the local stack all take them from here.

Only the standard library is imported, so a benchmark's cold-start child can load this module
without pulling in the library.
"""

from __future__ import annotations

from datetime import UTC, datetime

TEST_SIGNING_SECRET = "fstriage-test-signing-secret"  # noqa: S105 -- published test value
TEST_STREAM_TOKEN = "fstriage-test-stream-token"  # noqa: S105 -- published test value
TEST_ORG_ID = "o-TEST-na1"
WRONG_ORG_ID = "o-OTHER-eu1"
WRONG_STREAM_TOKEN = "not-the-stream-token"  # noqa: S105 -- deliberately wrong

FULLSTORY_STREAM_IP = "8.35.195.3"  # inside Fullstory's published US Streams range 8.35.195.0/29
# Documentation addresses (RFC 5737): system webhooks are not IP-restricted, so any address will do.
SYSTEM_WEBHOOK_IP = "198.51.100.23"
OUTSIDE_STREAM_IP = "203.0.113.9"

SIGNED_AT = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())  # 1793491200
WATCH_TICK_AT = datetime(2026, 11, 1, tzinfo=UTC)  # midnight: every daily watched segment is due
STALE_SIGNED_AT = 1_000_000_000  # 2001-09-09: outside any sane tolerance
# The fixed SIGNED_AT must pass the timestamp check for years to come, so local invokes use a huge
# tolerance (20 years). A deployed stack uses the default, 300 s.
LOCAL_TOLERANCE_SECONDS = 631_152_000

# Local stand-ins for the stack's resources; moto's default account and region.
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
QUEUE_NAME = "fstriage-InvestigationQueue"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{QUEUE_NAME}"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{QUEUE_NAME}"
DEDUPE_TABLE_NAME = "fstriage-DeliveryLedger"
# A partial ARN (no random suffix): Secrets Manager and moto both resolve it by name. The name must not
# end in "-" plus six characters, or Secrets Manager would read that as the suffix.
SIGNING_SECRET_NAME = "fstriage/test/webhook-keys"  # noqa: S105 -- a name, not a secret
SIGNING_SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{SIGNING_SECRET_NAME}"
API_KEY_SECRET_NAME = "fstriage/test/fullstory-api-key"  # noqa: S105 -- a name, not a secret
API_KEY_SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{API_KEY_SECRET_NAME}"
REPORTS_BUCKET = "fstriage-reports-local"
IDEMPOTENCY_TABLE_NAME = "fstriage-Idempotency"
STATE_TABLE_NAME = "fstriage-State"
FME_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:fstriage-FmeForwarderQueue"
FME_KEY_SECRET_NAME = "fstriage/test/fme-api-key"  # noqa: S105 -- a name, not a secret

# The template's logical IDs of the functions, and the webhook's deployed name.
WEBHOOK_FUNCTION = "WebhookFunction"
INVESTIGATOR_FUNCTION = "InvestigatorFunction"
FME_FUNCTION = "FmeForwarderFunction"
WEBHOOK_FUNCTION_NAME = f"fstriage-{WEBHOOK_FUNCTION}"

DOMAIN = "local.lambda-url.localhost"  # the domainName `function_url_event` puts in requestContext
APP_URL = f"https://app.fullstory.com/ui/{TEST_ORG_ID}"
