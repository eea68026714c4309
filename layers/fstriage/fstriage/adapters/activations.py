"""The month's Activation count (DynamoDB, the state table): one item per UTC month.

Item: `id` = `activations#<YYYY-MM>` (hash key), `used` (a number), `expires_at` (TTL). A reservation
is one conditional `ADD`: it adds one only while `used` is below the cap, so racing investigations
never take the count past it.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fstriage.adapters import aws

DEPENDENCY = "state"


def item_id(month: str) -> str:
    return f"activations#{month}"


class DynamoActivationCounter:
    def __init__(self, table_name: str, *, client: Any = None) -> None:
        self._table = table_name
        self._client = client

    @property
    def _dynamodb(self) -> Any:
        return self._client or aws.client("dynamodb")

    def reserve(self, month: str, *, cap: int, expires_at: int) -> int | None:
        try:
            response = aws.call(
                self._dynamodb,
                "update_item",
                dependency=DEPENDENCY,
                TableName=self._table,
                Key={"id": {"S": item_id(month)}},
                UpdateExpression="ADD used :one SET expires_at = :expires_at",
                ConditionExpression="attribute_not_exists(used) OR used < :cap",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":cap": {"N": str(cap)},
                    ":expires_at": {"N": str(expires_at)},
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if aws.is_condition_failed(error):
                return None  # the cap is reached
            raise aws.classify(error, DEPENDENCY) from None
        except BotoCoreError as error:
            raise aws.classify(error, DEPENDENCY) from None
        return int(response["Attributes"]["used"]["N"])

    def used(self, month: str) -> int:
        try:
            response = aws.call(
                self._dynamodb,
                "get_item",
                dependency=DEPENDENCY,
                TableName=self._table,
                Key={"id": {"S": item_id(month)}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as error:
            raise aws.classify(error, DEPENDENCY) from None
        return int((response.get("Item") or {}).get("used", {}).get("N", "0"))
