"""Sample investigation reports for the `fstriage reports` and `fstriage mcp` tests, and how to store them.

    reports = sample_reports()                       # {"segment": {...}, "custom": {...}, "failed": {...}}
    stored = write_report(s3, reports["custom"], received_at=RECEIVED["custom"])

The reports are real: the library's `Investigation` over the sandbox's generated data, then its
`build_report`. `write_report` stores one as the investigator does: the layer's own writer, with the
day folder named after the day the request was received (not the day the report was generated).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from fstriage.adapters.outputs import S3ReportStore as ReportWriter
from fstriage.core.errors import FullstoryAuthError
from fstriage.core.html_report import render_html
from fstriage.core.investigation import Finished, Investigation, InvestigationSettings
from fstriage.core.report import build_report, render_markdown
from fstriage.core.request import InvestigationRequest, isoformat
from fstriage_cli.samples import payloads
from fstriage_cli.samples.fakes import MemoryFullstory
from fstriage_cli.sandbox.generator import CHECKOUT_ERRORS, generate

ANCHOR: Final = datetime(2026, 11, 1, tzinfo=UTC)
DATA: Final = generate(6, now=ANCHOR)
BUCKET: Final = "fstriage-reports-test"
# How long after its request was received each sample report was generated.
INVESTIGATION_TIME: Final = timedelta(minutes=3)
# When each sample's request was received: a day apart, the segment alert newest, each at midday UTC so
# that it is generated the same day.
RECEIVED: Final = {
    "segment": ANCHOR + timedelta(days=2, hours=12),
    "custom": ANCHOR + timedelta(days=1, hours=12),
    "failed": ANCHOR + timedelta(hours=12),
}


def sample_reports() -> dict[str, dict[str, Any]]:
    """Three real reports, a day apart (see RECEIVED): a segment alert on the checkout-errors segment, a
    custom event on user-001's session, and a failed segment alert (the key was refused)."""
    segment = DATA.segment_named(CHECKOUT_ERRORS)
    alert, again = (
        payloads.segment_alert(alert_id=alert_id, timestamp=ANCHOR.isoformat())
        for alert_id in ("alert-notification-1", "alert-notification-2")
    )
    for document in (alert, again):
        document["data"]["alertConfig"].update(segmentUrl=segment.url, segmentName=segment.name)
    crash = DATA.sessions_of(uid="user-001")[0]
    event = payloads.custom_event(session_url=DATA.replay_url(crash), timestamp=ANCHOR.isoformat())
    refused = MemoryFullstory(DATA, fail={"export_start": FullstoryAuthError("401", status=401)})
    return {
        "segment": _report(MemoryFullstory(DATA), alert, RECEIVED["segment"]),
        "custom": _report(MemoryFullstory(DATA), event, RECEIVED["custom"]),
        "failed": _report(refused, again, RECEIVED["failed"]),
    }


def write_report(
    s3: Any, report: dict[str, Any], *, received_at: datetime, bucket: str = BUCKET
) -> dict[str, Any]:
    """Store `report` as the investigator does (JSON with its artifacts, Markdown and HTML) under the
    day its request was received; returns the report as stored (with `artifacts`)."""
    writer = ReportWriter(bucket, client=s3)
    keys = writer.keys_for(report["investigation_id"], isoformat(received_at))
    artifacts = {"bucket": bucket, "json_key": keys.json_key, "markdown_key": keys.markdown_key}
    stored = report | {"artifacts": artifacts | {"html_key": keys.html_key}}
    writer.put(keys, stored, render_markdown(stored), render_html(stored))
    return stored


def _report(fake: MemoryFullstory, document: dict[str, Any], received_at: datetime) -> dict[str, Any]:
    request: InvestigationRequest = payloads.request_for(document, received_at=received_at)
    outcome = Investigation(fake, InvestigationSettings(org_id=DATA.org_id, concurrency=1)).run(request)
    assert isinstance(outcome, Finished)
    return build_report(outcome.evidence, fake.usage, received_at + INVESTIGATION_TIME)
