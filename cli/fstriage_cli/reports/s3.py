"""Reports in the stack's S3 bucket (`reports/YYYY/MM/DD/<investigation_id>.json`, `.md`, `.html`).

Listing walks the day prefixes newest first (ListObjectsV2 with a `/` delimiter, then each day's
objects), so `--limit 20` reads about 20 objects however many days the bucket holds; `--since` also
prunes whole years, months and days. The investigator names a report's day folder after the day its
request was received, not the day the report was generated, so `--since` keeps one day of slack before
its own (UTC) day: a report received just before midnight and generated after it is still found (as is
any report generated within a day of its request). Within one day, reports come newest first by when
S3 received them (their IDs say nothing about time), and by their own time when S3 received them in
the same second.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from typing import Any, Final

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from fstriage.core.request import isoformat
from fstriage_cli.reports.model import (
    Progress,
    ReportFilter,
    ReportNotFound,
    ReportStoreError,
    ReportSummary,
    StoredReport,
    newest_first,
    parse_report,
    unreadable,
)
from fstriage_cli.wording import plural

Day = tuple[str, Sequence[dict[str, Any]]]  # a day's prefix and its JSON objects, newest first
DEFAULT_PREFIX: Final = "reports/"
LINK_SECONDS: Final = 3600  # a link opened now: an hour is plenty, and never outlives the credentials
_MISSING_KEY_CODES: Final = frozenset({"NoSuchKey", "404", "NotFound"})
# A report's day folder is its request's received day: `--since` also reads the day before its own, so
# a report generated within this long of its request is never pruned.
SINCE_SLACK: Final = timedelta(days=1)


class BucketReportStore:
    """`list` and `get` over a bucket; `client` is a boto3 S3 client (made from the environment, which
    honours AWS_ENDPOINT_URL, when None). Safe to share between threads (the MCP server's tools)."""

    def __init__(self, bucket: str, prefix: str = DEFAULT_PREFIX, *, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self._client = client
        self._client_lock = threading.Lock()

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def client(self) -> Any:
        # boto3's default session is not thread-safe: the client is made once, under a lock.
        with self._client_lock:
            if self._client is None:
                import boto3  # noqa: PLC0415 (only the S3 store needs it: keep `--reports-dir` light)

                # SigV4: botocore still presigns S3 links with SigV2 by default.
                self._client = boto3.client("s3", config=Config(signature_version="s3v4"))
            return self._client

    def list(self, filters: ReportFilter, *, progress: Progress | None = None) -> Iterator[ReportSummary]:
        """Summaries that pass `filters`, newest first, at most `filters.limit`; an object whose JSON
        cannot be read is an unreadable row, never skipped."""
        if filters.limit is not None and filters.limit <= 0:
            return
        listed = read = 0
        for day, objects in self._days_newest_first(filters):
            # S3 keeps LastModified to the second: reports written in the same second are read
            # together and ordered by their own time.
            for _, same_second in groupby(objects, key=lambda item: item.get("LastModified")):
                rows: list[ReportSummary] = []
                for item in same_second:
                    read += 1
                    if progress is not None:
                        progress(
                            f"{read} read, {listed} listed ({day.removeprefix(self.prefix).rstrip('/')})"
                        )
                    summary, report = self._summary(item["Key"], _iso(item.get("LastModified")))
                    if filters.accepts(summary, report):
                        rows.append(summary)
                for summary in newest_first(rows):
                    yield summary
                    listed += 1
                    if filters.limit is not None and listed >= filters.limit:
                        return

    def get(self, report_id: str, *, progress: Progress | None = None) -> StoredReport:
        """One report by ID (`inv_...`), by key (`reports/.../inv_....json`, any of its three suffixes)
        or by `s3://` URL. An ID alone is looked for day by day, newest first."""
        key = self._key_for(report_id, progress)
        body, stored_at = self._read(key)
        if body is None:
            raise ReportNotFound(report_id, self.location)
        summary, report = self._parse(key, body, stored_at)
        markdown_body, _ = self._read(key.removesuffix(".json") + ".md")
        markdown = markdown_body.decode("utf-8", errors="replace") if markdown_body is not None else None
        return StoredReport(summary, report or {}, markdown, self._html_link(key, report))

    # -- walking the bucket

    def _days_newest_first(self, filters: ReportFilter) -> Iterator[Day]:
        """Each leaf prefix (a day) with its JSON objects, days newest first and objects newest
        first; a level whose names are not numbers is walked in the same reverse order.
        `filters.since` prunes every prefix that ends before `first_day(filters.since)`."""
        start = first_day(filters.since) if filters.since else None
        floor = (start.year, start.month, start.day) if start else None
        yield from self._walk(self.prefix, floor)

    def _walk(self, prefix: str, floor: tuple[int, ...] | None) -> Iterator[Day]:
        # One listing per level gives both the sub-prefixes and, at a day, its objects.
        children: list[str] = []
        objects: list[dict[str, Any]] = []
        for page in self._pages(Prefix=prefix, Delimiter="/"):
            children += [p["Prefix"] for p in page.get("CommonPrefixes") or []]
            objects += [item for item in page.get("Contents") or [] if str(item["Key"]).endswith(".json")]
        for child in sorted(children, reverse=True):
            if not _before(child.removeprefix(self.prefix), floor):
                yield from self._walk(child, floor)
        if objects:
            by_time = sorted(objects, key=lambda item: (_iso(item.get("LastModified")) or "", item["Key"]))
            yield prefix, by_time[::-1]

    def _pages(self, **params: Any) -> Iterator[dict[str, Any]]:
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            yield from paginator.paginate(Bucket=self.bucket, **params)
        except (ClientError, BotoCoreError) as error:
            raise self._explain(error, "list") from None

    def _key_for(self, report_id: str, progress: Progress | None) -> str:
        value = report_id.strip()
        if value.startswith("s3://"):
            bucket, _, value = value.removeprefix("s3://").partition("/")
            if bucket != self.bucket:
                raise ReportStoreError(
                    f"{report_id!r} is in the bucket {bucket!r}, not {self.bucket!r}: pass --bucket {bucket}",
                    usage=True,
                )
        if "/" in value:
            base = value.removesuffix(".json").removesuffix(".md").removesuffix(".html")
            return base + ".json"
        if not value:
            raise ReportStoreError("no report ID given: run `fstriage reports list` for the IDs", usage=True)
        name = value.removesuffix(".json")
        for searched, (day, objects) in enumerate(self._days_newest_first(ReportFilter()), start=1):
            if progress is not None:
                progress(f"looked in {plural(searched, 'day')} ({day.removeprefix(self.prefix).rstrip('/')})")
            key = f"{day}{name}.json"
            if any(item["Key"] == key for item in objects):
                return key
        raise ReportNotFound(report_id, self.location)

    # -- reading objects

    def _summary(self, key: str, stored_at: str | None) -> tuple[ReportSummary, dict[str, Any] | None]:
        try:
            body, _ = self._read(key)
        except ReportStoreError as error:
            if not error.usage:  # this object is unreadable; the listing goes on
                return unreadable(
                    _stem(key), where=self._url(key), stored_at=stored_at, error=error.message
                ), None
            raise
        if body is None:  # deleted while we listed: nothing to show
            return unreadable(_stem(key), where=self._url(key), stored_at=stored_at, error="deleted"), None
        return self._parse(key, body, stored_at)

    def _parse(
        self, key: str, body: bytes, stored_at: str | None
    ) -> tuple[ReportSummary, dict[str, Any] | None]:
        return parse_report(body, _stem(key), where=self._url(key), stored_at=stored_at)

    def _read(self, key: str) -> tuple[bytes | None, str | None]:
        """The object's body and LastModified; (None, None) when there is no such key."""
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
            return answer["Body"].read(), _iso(answer.get("LastModified"))
        except ClientError as error:
            if client_error_code(error) in _MISSING_KEY_CODES:
                return None, None
            raise self._explain(error, "read", key) from None
        except BotoCoreError as error:
            raise self._explain(error, "read", key) from None

    def _exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if client_error_code(error) in _MISSING_KEY_CODES:
                return False
            raise self._explain(error, "read", key) from None
        except BotoCoreError as error:
            raise self._explain(error, "read", key) from None
        return True

    def _html_link(self, json_key: str, report: dict[str, Any] | None) -> str | None:
        artifacts = (report or {}).get("artifacts")
        named = artifacts.get("html_key") if isinstance(artifacts, dict) else None
        html_key = named if isinstance(named, str) else json_key.removesuffix(".json") + ".html"
        if not named and not self._exists(html_key):
            return None  # written before reports had an HTML twin
        # The investigator's own link; imported here, as it brings `requests`, which listing never needs.
        from fstriage.adapters.outputs import S3ReportStore  # noqa: PLC0415

        return S3ReportStore(self.bucket, client=self.client).link(html_key, LINK_SECONDS)

    def _url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _explain(self, error: Exception, action: str, key: str | None = None) -> ReportStoreError:
        where = self._url(key) if key else self.location
        code = client_error_code(error)
        if isinstance(error, NoCredentialsError):
            return ReportStoreError(
                "no AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), "
                "or use --reports-dir for reports on disk",
                usage=True,
            )
        if code == "NoSuchBucket":
            return ReportStoreError(
                f"the bucket {self.bucket!r} does not exist (in this account and region): check --bucket "
                "or FSTRIAGE_REPORTS_BUCKET against the stack's ReportsBucketName output",
                usage=True,
            )
        if code in {"AccessDenied", "403", "Forbidden", "AllAccessDisabled", "InvalidAccessKeyId"}:
            need = "s3:ListBucket on the bucket" if action == "list" else "s3:GetObject on its reports/*"
            return ReportStoreError(
                f"access denied to {where} ({code}): the credentials in use need {need}", usage=False
            )
        detail = code or type(error).__name__
        return ReportStoreError(f"could not {action} {where}: {detail} ({error})", usage=False)


def first_day(since: datetime) -> date:
    """The oldest day folder that can hold a report generated at or after `since`: its UTC day (the
    folders are UTC days), less a day of slack for a request received before midnight and generated
    after it."""
    return (since.astimezone(UTC) - SINCE_SLACK).date()


def _before(relative: str, floor: tuple[int, ...] | None) -> bool:
    """Whether a day-layout prefix (`2024/`, `2024/05/`, `2024/05/31/`) ends before the `floor` day."""
    if floor is None:
        return False
    parts = relative.strip("/").split("/")
    if not all(part.isdigit() for part in parts) or len(parts) > len(floor):
        return False
    return tuple(int(part) for part in parts) < floor[: len(parts)]


def _stem(key: str) -> str:
    return key.rsplit("/", 1)[-1].removesuffix(".json")


def client_error_code(error: Exception) -> str:
    """A ClientError's code ("" for any other error, or none). Not `fstriage.adapters.aws.error_code`,
    which says "None" for an empty `<Code/>` and would bring botocore's session to `--reports-dir`."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "")
    return ""


def _iso(value: Any) -> str | None:
    """S3's LastModified (a datetime) as ISO 8601 UTC text."""
    if value is None:
        return None
    return isoformat(value) if hasattr(value, "astimezone") else str(value)
