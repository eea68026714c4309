"""The delivery ledger (DynamoDB): one conditional write per trigger identity, so two racing
deliveries of the same trigger cannot both be queued.

Items: `delivery_key` (hash key: the trigger's identity), `request_id`, `claimed_at`, `answer_by`,
`expires_at` (TTL).

The webhook's accepted path is two calls, this claim and the SQS send. There is no "queued" mark:
the claimant either sends within its answer budget or deletes its claim before answering 503, so
by `answer_by` a surviving claim means "queued". Before `answer_by` the claim is in flight and a
second delivery waits or is told to retry. The one gap, a claimant that dies between the two calls
or whose delete also fails, is logged and counted by the webhook where it can see it.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fstriage.adapters import aws
from fstriage.core.deadline import Deadline
from fstriage.core.errors import DependencyUnavailable
from fstriage.core.ports import Claim, ClaimResult


class DynamoDeliveryLedger:
    def __init__(self, table_name: str, *, client: Any = None) -> None:
        self._table = table_name
        self._client = client

    @property
    def _dynamodb(self) -> Any:
        return self._client or aws.client("dynamodb")

    def claim(
        self,
        identity: str,
        request_id: str,
        *,
        now: float,
        expires_at: float,
        answer_by: float,
        deadline: Deadline | None = None,
    ) -> ClaimResult:
        item = {
            "delivery_key": {"S": identity},
            "request_id": {"S": request_id},
            "claimed_at": {"N": _number(now)},
            "answer_by": {"N": _number(answer_by)},
            "expires_at": {"N": str(int(expires_at))},
        }
        try:
            aws.call(
                self._dynamodb,
                "put_item",
                dependency="ledger",
                deadline=deadline,
                TableName=self._table,
                Item=item,
                # TTL deletion lags by hours, so an expired item (a closed dedupe window) is free again.
                ConditionExpression="attribute_not_exists(delivery_key) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": _number(now)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not aws.is_condition_failed(error):
                raise aws.classify(error, "ledger") from None
            existing = getattr(error, "response", {}).get("Item") or self._read(identity, deadline)
            if not existing:  # released between our write and our read: the sender may retry at once
                return ClaimResult(Claim.IN_FLIGHT, request_id, answer_by=now)
            return _result(existing, now)
        except BotoCoreError as error:
            raise aws.classify(error, "ledger") from None
        return ClaimResult(Claim.CLAIMED, request_id, answer_by)

    def lookup(self, identity: str, *, now: float, deadline: Deadline | None = None) -> ClaimResult | None:
        existing = self._read(identity, deadline)
        if not existing or float(existing.get("expires_at", {}).get("N", "0")) < now:
            return None
        return _result(existing, now)

    def release(self, identity: str, request_id: str, *, deadline: Deadline | None = None) -> None:
        try:
            aws.call(
                self._dynamodb,
                "delete_item",
                dependency="ledger",
                deadline=deadline,
                TableName=self._table,
                Key={"delivery_key": {"S": identity}},
                # Only our own claim: a newer claimant's must survive.
                ConditionExpression="request_id = :request_id",
                ExpressionAttributeValues={":request_id": {"S": request_id}},
            )
        except ClientError as error:
            if not aws.is_condition_failed(error):
                raise DependencyUnavailable("ledger") from None
        except BotoCoreError:
            raise DependencyUnavailable("ledger") from None

    def _read(self, identity: str, deadline: Deadline | None) -> dict[str, Any]:
        try:
            response = aws.call(
                self._dynamodb,
                "get_item",
                dependency="ledger",
                deadline=deadline,
                TableName=self._table,
                Key={"delivery_key": {"S": identity}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as error:
            raise aws.classify(error, "ledger") from None
        return dict(response.get("Item") or {})


def _result(item: dict[str, Any], now: float) -> ClaimResult:
    request_id = str(item.get("request_id", {}).get("S", ""))
    answer_by = float(item.get("answer_by", {}).get("N", "0"))
    outcome = Claim.IN_FLIGHT if now < answer_by else Claim.DUPLICATE
    return ClaimResult(outcome, request_id, answer_by)


def _number(value: float) -> str:
    return f"{value:.3f}"
