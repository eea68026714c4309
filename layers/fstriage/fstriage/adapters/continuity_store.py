"""Continuity pointers in the state table (DynamoDB): the last report per subject key.

Item: `id` (`subject#<sha256 of the key>`, so the table holds no uid or email), `latest` and
`prior` (JSON of `core.continuity.ReportPointer`), `generated_at` (the latest's, for the condition)
and `expires_at` (TTL). A write is conditional on no newer report being stored, so two reports on
one subject finishing together never replace the newer pointer with the older one.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fstriage.adapters import aws
from fstriage.core.continuity import ReportPointer, StoredPointer, store_id


class DynamoContinuityStore:
    def __init__(self, table_name: str, *, client: Any = None) -> None:
        self._table = table_name
        self._client = client

    @property
    def _dynamodb(self) -> Any:
        return self._client or aws.client("dynamodb")

    def latest(self, subject_key: str) -> StoredPointer | None:
        try:
            response = aws.call(
                self._dynamodb,
                "get_item",
                dependency="state",
                TableName=self._table,
                Key={"id": {"S": store_id(subject_key)}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as error:
            raise aws.classify(error, "state") from None
        item = response.get("Item")
        if not item:
            return None
        latest = _pointer(item.get("latest"))
        return StoredPointer(latest, _pointer(item.get("prior"))) if latest else None

    def remember(self, subject_key: str, pointer: StoredPointer, *, expires_at: int) -> bool:
        item = {
            "id": {"S": store_id(subject_key)},
            "latest": {"S": json.dumps(pointer.latest.to_item(), separators=(",", ":"))},
            "generated_at": {"S": pointer.latest.generated_at},
            "expires_at": {"N": str(expires_at)},
        }
        if pointer.prior is not None:
            item["prior"] = {"S": json.dumps(pointer.prior.to_item(), separators=(",", ":"))}
        try:
            aws.call(
                self._dynamodb,
                "put_item",
                dependency="state",
                TableName=self._table,
                Item=item,
                # ISO 8601 UTC strings of one format order like their times.
                ConditionExpression="attribute_not_exists(id) OR generated_at <= :ours",
                ExpressionAttributeValues={":ours": {"S": pointer.latest.generated_at}},
            )
        except ClientError as error:
            if aws.is_condition_failed(error):
                return False
            raise aws.classify(error, "state") from None
        except BotoCoreError as error:
            raise aws.classify(error, "state") from None
        return True


def _pointer(attribute: Any) -> ReportPointer | None:
    text = attribute.get("S") if isinstance(attribute, dict) else None
    if not isinstance(text, str):
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return ReportPointer.from_item(document) if isinstance(document, dict) else None
