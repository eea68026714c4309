"""The investigation queue (SQS)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fstriage.adapters import aws
from fstriage.core.deadline import Deadline


class SqsRequestQueue:
    def __init__(self, queue_url: str, *, client: Any = None) -> None:
        self._queue_url = queue_url
        self._client = client

    def send(
        self,
        body: str,
        *,
        attributes: dict[str, str],
        delay_seconds: int = 0,
        deadline: Deadline | None = None,
    ) -> str:
        try:
            response = aws.call(
                self._client or aws.client("sqs"),
                "send_message",
                dependency="queue",
                deadline=deadline,
                QueueUrl=self._queue_url,
                MessageBody=body,
                DelaySeconds=delay_seconds,
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
                },
            )
        except (ClientError, BotoCoreError) as error:
            raise aws.classify(error, "queue") from None
        return str(response["MessageId"])
