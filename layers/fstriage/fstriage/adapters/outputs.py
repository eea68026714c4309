"""Where a finished report goes: S3 (JSON, Markdown and HTML, with a presigned link to the HTML),
EventBridge, and optionally Slack."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests
from botocore.exceptions import BotoCoreError, ClientError

from fstriage.adapters import aws
from fstriage.core.errors import DependencyUnavailable, FstriageError
from fstriage.core.republish import EVENT_SOURCE

EVENT_DETAIL_TYPE = "Investigation Completed"


@dataclass(frozen=True, slots=True)
class StoredReport:
    bucket: str
    json_key: str
    markdown_key: str
    html_key: str | None = None  # None: named before reports had an HTML twin

    def artifacts(self) -> dict[str, str]:
        """Where the report's files are: the report's `artifacts` and the completion event's `report`."""
        names = {"bucket": self.bucket, "json_key": self.json_key, "markdown_key": self.markdown_key}
        return names | ({"html_key": self.html_key} if self.html_key else {})


class S3ReportStore:
    def __init__(self, bucket: str, prefix: str = "reports/", *, client: Any = None) -> None:
        self._bucket = bucket
        self._prefix = prefix
        self._client = client

    def keys_for(self, investigation_id: str, generated_at: str) -> StoredReport:
        day = generated_at[:10].replace("-", "/")
        base = f"{self._prefix}{day}/{investigation_id}"
        return StoredReport(self._bucket, f"{base}.json", f"{base}.md", f"{base}.html")

    def put(
        self, stored: StoredReport, report: dict[str, Any], markdown: str, html: str | None = None
    ) -> None:
        s3 = self._client or aws.client("s3")
        objects = [
            (stored.json_key, json.dumps(report, indent=2, sort_keys=True), "application/json"),
            (stored.markdown_key, markdown, "text/markdown; charset=utf-8"),
        ]
        if html is not None and stored.html_key:
            objects.append((stored.html_key, html, "text/html; charset=utf-8"))
        try:
            for key, body, content_type in objects:
                aws.call(
                    s3,
                    "put_object",
                    dependency="reports",
                    Bucket=self._bucket,
                    Key=key,
                    # A lone surrogate from a visitor's page cannot be UTF-8: replace it, keep the report.
                    Body=body.encode("utf-8", errors="replace"),
                    ContentType=content_type,
                    ServerSideEncryption="AES256",
                )
        except (ClientError, BotoCoreError) as error:
            raise aws.classify(error, "reports") from None

    def link(self, key: str, expires_in: int) -> str | None:
        """A presigned GET URL for `key` (signed here, no call to S3). It stops working at `expires_in`
        seconds, or sooner when the signing credentials expire (a Lambda role's last hours, not days).
        None when no credentials can sign: the report stands without its link."""
        s3 = self._client or aws.s3_presigner()
        try:
            url = s3.generate_presigned_url(
                "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in
            )
        except (ClientError, BotoCoreError):
            return None
        return str(url)


class EventBridgePublisher:
    def __init__(self, bus_name: str, *, client: Any = None) -> None:
        self._bus = bus_name
        self._client = client

    def publish(self, detail: dict[str, Any], *, detail_type: str = EVENT_DETAIL_TYPE) -> None:
        events = self._client or aws.client("events")
        try:
            response = aws.call(
                events,
                "put_events",
                dependency="events",
                Entries=[
                    {
                        "Source": EVENT_SOURCE,
                        "DetailType": detail_type,
                        "Detail": json.dumps(detail),
                        "EventBusName": self._bus,
                    }
                ],
            )
        except (ClientError, BotoCoreError) as error:
            raise aws.classify(error, "events") from None
        if response.get("FailedEntryCount"):
            raise DependencyUnavailable("events", "EventBridge refused the event")


class SlackNotifier:
    """Posts to a Slack incoming webhook whose URL lives in Secrets Manager (never in the template)."""

    def __init__(
        self, url_source: Any, *, timeout: float = 5.0, session: requests.Session | None = None
    ) -> None:
        self._url_source = url_source
        self._timeout = timeout
        self._session = session or requests.Session()

    def post(self, text: str) -> None:
        url = self._url_source()
        try:
            response = self._session.post(url, json={"text": text}, timeout=self._timeout)
        except requests.RequestException:
            raise DependencyUnavailable("slack") from None
        if response.status_code >= 300:
            raise FstriageError(f"Slack answered {response.status_code}", reason="slack_rejected")
