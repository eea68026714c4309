"""Pure domain logic: no boto3, no requests, no environment reads."""
