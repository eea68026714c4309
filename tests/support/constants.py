"""Values the tests, `events/` and the README share. The signing secret is a published test value."""

TEST_SIGNING_SECRET = "fstriage-test-signing-secret"
TEST_STREAM_TOKEN = "fstriage-test-stream-token"
TEST_ORG_ID = "o-TEST-na1"
# Inside Fullstory's published US Streams range.
FULLSTORY_STREAM_IP = "8.35.195.3"
