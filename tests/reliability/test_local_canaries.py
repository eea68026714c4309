"""Secret canaries, through the local stack: a distinctive signing secret, stream token, Fullstory API
key and user email run through whole flows, failures included (a forged signature, a wrong stream
token, Fullstory answering 401, 403 and 5xx pages that echo the request headers, an SQS outage).
Then every line the stack captured is scanned: the functions' stdout/stderr (the stack's log dir),
the Markdown and JSON reports. Slack is not wired in the local stack (no webhook secret), so there is
no Slack text to scan; the Markdown is what Slack would be sent.

This module runs last in the suite (conftest orders it), so the scan also covers every flow the
other reliability tests drove with the same canaries.
"""

from __future__ import annotations

import base64
import copy
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from fstriage_cli.samples.payloads import CHECKOUT_ERRORS_ALERT, CUSTOM_EVENT, NOTE_CREATED, STREAM_SESSION
from tests.reliability.conftest import (
    CANARY_API_KEY,
    CANARY_EMAIL,
    CANARY_SIGNING_SECRET,
    CANARY_STREAM_TOKEN,
    WEBHOOK,
    Driver,
    record,
)

pytestmark = pytest.mark.e2e


def clone(document: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(document))
    return copied


def _alert(**config: Any) -> dict[str, Any]:
    alert = copy.deepcopy(CHECKOUT_ERRORS_ALERT)
    alert["data"]["id"] = f"segalert-canary-{uuid.uuid4().hex[:12]}"
    alert["data"]["alertConfig"].update(config)
    return alert


def _flows() -> list[dict[str, Any]]:
    note = clone(NOTE_CREATED)
    note["data"]["id"] = f"note-canary-{uuid.uuid4().hex[:12]}"
    note["data"]["author"] = CANARY_EMAIL
    note["data"]["text"] = f"Customer {CANARY_EMAIL} says 'Place order' did nothing."
    custom = clone(CUSTOM_EVENT)
    custom["data"]["name"] = f"Checkout Failed for {CANARY_EMAIL}"
    custom["data"]["properties"]["email_str"] = CANARY_EMAIL
    custom["data"]["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    alert = _alert(alertCreator=CANARY_EMAIL, description=f"Escalate to {CANARY_EMAIL}")
    return [note, custom, alert]


def _stream() -> dict[str, Any]:
    stream = clone(STREAM_SESSION)
    stream["stream_name"] = f"Canary stream {uuid.uuid4().hex[:8]}"
    stream["user_email"] = CANARY_EMAIL
    stream["event_time"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return stream


def _needles(driver: Driver) -> dict[str, list[str]]:
    signatures = sorted(set(driver.signatures))
    digests = sorted({s.rsplit("v:", 1)[-1] for s in signatures})
    return {
        "signing secret": [CANARY_SIGNING_SECRET],
        "stream token": [CANARY_STREAM_TOKEN],
        "api key": [CANARY_API_KEY, base64.b64encode(CANARY_API_KEY.encode()).decode()],
        "signature header": signatures,
        "signature digest": digests,
    }


def _scan(files: list[Path], needles: dict[str, list[str]]) -> tuple[dict[str, list[str]], int, int]:
    """(what was found: kind -> ["file:line"], bytes scanned, lines scanned)."""
    found: dict[str, list[str]] = {}
    scanned_bytes = scanned_lines = 0
    for path in files:
        data = path.read_bytes()
        scanned_bytes += len(data)
        text = data.decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            scanned_lines += 1
            for kind, values in needles.items():
                if any(value and value in line for value in values):
                    found.setdefault(kind, []).append(f"{path.name}:{number}")
    return found, scanned_bytes, scanned_lines


def test_no_secret_key_token_signature_or_email_leaks_into_logs_or_reports(driver: Driver) -> None:
    stack = driver.stack
    sandbox, outages = stack.sandbox, stack.outages
    assert sandbox is not None and outages is not None
    driver.wait_idle()
    request_ids: list[str] = []

    for document in _flows():
        answer = driver.post(document)
        assert answer.status == 202, answer.body
        request_ids.append(answer.request_id)
    stream = driver.post_stream(_stream())
    assert stream.status == 202, stream.body
    request_ids.append(stream.request_id)
    # Failures: a forged signature, a wrong stream token, an outage while queueing.
    assert driver.post(_alert(), secret=f"{CANARY_SIGNING_SECRET}-forged").status == 401
    assert driver.post_stream(_stream(), token=f"{CANARY_STREAM_TOKEN}-wrong").status in (401, 403)
    with outages.outage("sqs", "reset", function=WEBHOOK):
        assert driver.post(_alert(alertCreator=CANARY_EMAIL)).status == 503
    driver.wait_for_reports(request_ids)
    driver.wait_idle()
    # Fullstory refuses the key, then the tier, then answers 5xx pages echoing the request headers.
    for faults in (
        {"unauthorized": True, "error_body": "echo"},
        {"forbidden_tier": True},
        {"server_error_rate": 1.0, "path_filter": "/events", "error_body": "echo"},
    ):
        sandbox.faults.reset()
        sandbox.faults.update(**faults)
        answer = driver.post(_alert(alertCreator=CANARY_EMAIL))
        assert answer.status == 202, answer.body
        request_ids.append(answer.request_id)
        driver.wait_for_reports([answer.request_id])
        driver.wait_idle()
    sandbox.faults.reset()

    logs = sorted(stack.log_dir.glob("*.log"))
    markdown = sorted(stack.reports_dir.glob("*.md"))
    json_reports = sorted(stack.reports_dir.glob("*.json"))
    html = sorted(stack.reports_dir.glob("*.html"))
    assert logs and markdown and json_reports and html
    needles = _needles(driver)
    in_logs, log_bytes, log_lines = _scan(logs, {**needles, "email": [CANARY_EMAIL]})
    in_markdown, md_bytes, md_lines = _scan(markdown, {**needles, "email": [CANARY_EMAIL]})
    in_json, json_bytes, json_lines = _scan(json_reports, needles)
    in_html, html_bytes, html_lines = _scan(html, {**needles, "email": [CANARY_EMAIL]})
    emails_in_json, _, _ = _scan(json_reports, {"email": [CANARY_EMAIL]})
    record(
        "canaries",
        log_files=len(logs),
        log_bytes=log_bytes,
        log_lines=log_lines,
        markdown_files=len(markdown),
        markdown_bytes=md_bytes,
        json_reports=len(json_reports),
        json_bytes=json_bytes,
        signatures_sent=len(needles["signature header"]),
        found_in_logs={k: len(v) for k, v in in_logs.items()},
        found_in_markdown={k: len(v) for k, v in in_markdown.items()},
        found_in_json={k: len(v) for k, v in in_json.items()},
        html_files=len(html),
        html_bytes=html_bytes,
        found_in_html={k: len(v) for k, v in in_html.items()},
        unmasked_email_lines_in_json=len(emails_in_json.get("email", [])),
        lines_scanned=log_lines + md_lines + json_lines + html_lines,
    )

    assert in_logs == {}, f"canaries in the function logs: {in_logs}"
    assert in_markdown == {}, f"canaries in the Markdown reports: {in_markdown}"
    assert in_json == {}, f"secrets in the JSON reports: {in_json}"
    assert in_html == {}, f"canaries in the HTML reports: {in_html}"
