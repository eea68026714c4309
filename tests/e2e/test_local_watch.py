"""A watched segment through the whole local stack: the test sends the schedule's tick (EventBridge
Scheduler does not run locally, and nobody waits for the hour), the built investigator turns it into a
`scheduled` request for the due segment, and that request becomes a report. Skipped without the local
stack's tools, unless FSTRIAGE_E2E_REQUIRED is set."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import jsonschema
import pytest

from fstriage.core.report import investigation_id_for
from fstriage.core.watch import WatchedSegment, period_end, scheduled_request
from fstriage_cli.local import LocalStack
from tests.support.local_stack import started_stack, wait_for_report
from tests.support.schemas import REPORT_SCHEMA

pytestmark = pytest.mark.e2e

SEGMENT = "checkout-errors-seg"  # the sandbox's "Checkout errors", as the events/ samples name it
REPORT_TIMEOUT = 90.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with started_stack(
        tmp_path_factory,
        "local-watch",
        parameters={"WatchedSegments": SEGMENT},
        function_env={"InvestigatorFunction": {"EXPORT_POLL_DELAY_SECONDS": "1"}},
    ) as running:
        yield running


def test_a_watched_segment_is_investigated_when_its_tick_arrives(stack: LocalStack) -> None:
    # The last midnight (UTC): the daily period that just ended is yesterday, inside the sandbox's week.
    midnight = period_end(datetime.now(UTC), WatchedSegment(SEGMENT).period)
    org_id = stack.config.org_id
    expected = scheduled_request(WatchedSegment(SEGMENT), midnight, org_id=org_id, received_at=midnight)
    investigation_id = investigation_id_for(expected.request_id)

    stack.tick(midnight)
    collected = wait_for_report(stack, investigation_id, REPORT_TIMEOUT)

    report = json.loads(collected.json_path.read_text())
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["trigger"]["kind"] == "scheduled"
    assert report["trigger"]["segment"]["id"] == SEGMENT
    assert report["window"] == {"start": expected.window.start, "end": expected.window.end}
    assert report["headline"].startswith(f'Watched segment "{SEGMENT}": ')
    assert report["status"] != "failed", report["notes"]
    assert isinstance(report["quiet"], bool)

    # The same tick again (a redelivery): the same request, so no second report.
    stack.tick(midnight)
    time.sleep(3)
    assert [r.investigation_id for r in stack.reports].count(investigation_id) == 1
