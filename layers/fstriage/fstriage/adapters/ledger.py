"""The delivery ledger (DynamoDB): every write is conditional, so two racing deliveries cannot both win."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fstriage.adapters import aws
from fstriage.core.errors import DependencyUnavailable
from fstriage.core.ports import Claim

PENDING, QUEUED = "pending", "queued"


class DynamoDeliveryLedger:
    """Items: `delivery_key` (hash key), `state`, `request_id`, `claimed_at`, `expires_at` (TTL)."""

    def __init__(self, table_name: str, *, ttl_seconds: int, lease_seconds: int, client: Any = None) -> None:
        self._table = table_name
        self._ttl = ttl_seconds
        self._lease = lease_seconds
        self._client = client

    @property
    def _dynamodb(self) -> Any:
        return self._client or aws.client("dynamodb")

    def claim(self, delivery_key: str, request_id: str, now: float) -> Claim:
        item = {
            "delivery_key": {"S": delivery_key},
            "state": {"S": PENDING},
            "request_id": {"S": request_id},
            "claimed_at": {"N": str(int(now))},
            "expires_at": {"N": str(int(now) + self._ttl)},
        }
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item=item,
                # A pending claim whose lease ran out belongs to a writer that died: take it over.
                ConditionExpression=(
                    "attribute_not_exists(delivery_key) OR (#state = :pending AND claimed_at < :stale)"
                ),
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":pending": {"S": PENDING},
                    ":stale": {"N": str(int(now) - self._lease)},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if aws.error_code(error) != "ConditionalCheckFailedException":
                raise aws.classify(error, "ledger") from None
            existing = getattr(error, "response", {}).get("Item") or self._read(delivery_key)
            state = existing.get("state", {}).get("S")
            return Claim.ALREADY_QUEUED if state == QUEUED else Claim.IN_FLIGHT
        except BotoCoreError as error:
            raise aws.classify(error, "ledger") from None
        return Claim.CLAIMED

    def mark_queued(self, delivery_key: str, message_id: str) -> None:
        self._write(
            "update_item",
            Key={"delivery_key": {"S": delivery_key}},
            UpdateExpression="SET #state = :queued, message_id = :message_id",
            ConditionExpression="attribute_exists(delivery_key)",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":queued": {"S": QUEUED}, ":message_id": {"S": message_id}},
        )

    def release(self, delivery_key: str) -> None:
        self._write(
            "delete_item",
            Key={"delivery_key": {"S": delivery_key}},
            ConditionExpression="#state = :pending",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":pending": {"S": PENDING}},
        )

    def _read(self, delivery_key: str) -> dict[str, Any]:
        try:
            response = self._dynamodb.get_item(
                TableName=self._table, Key={"delivery_key": {"S": delivery_key}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as error:
            raise aws.classify(error, "ledger") from None
        return dict(response.get("Item") or {})

    def _write(self, operation: str, **arguments: Any) -> None:
        """Best-effort follow-ups to a claim: any failure, even a misconfiguration, is an outage here,
        because the claim already succeeded and the intake treats these as optional."""
        try:
            getattr(self._dynamodb, operation)(TableName=self._table, **arguments)
        except (ClientError, BotoCoreError):
            raise DependencyUnavailable("ledger") from None
