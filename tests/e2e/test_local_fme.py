"""The local stack with the Harness FME forwarder on (`fstriage local --fme`): the template's rule in
moto copies "Fullstory Custom Event"s into the forwarder's queue, Lambda's poller runs the built
forwarder, and the FME stand-in records what reaches it. Nothing is patched; the webhook delivery is
signed for real. Skipped without the tools (`make setup`) unless FSTRIAGE_E2E_REQUIRED is set.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from fstriage_cli.local import LocalStack
from fstriage_cli.local.stack import FME_PARAMETER
from fstriage_cli.samples.payloads import CUSTOM_EVENT
from fstriage_cli.sandbox import SandboxUser
from tests.support.local_stack import post, started_stack

pytestmark = pytest.mark.e2e

# The events/ custom event's session URL is `indv:device!session`. The sandbox knows its user by this
# device and by an individual ID of its own (not the URL's), so that event resolves by the device.
SAMPLE_DEVICE = "5741938475610293"
FME_TIMEOUT = 60.0  # the forwarder gathers a batch for up to 5 s; a cold start comes first


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with started_stack(tmp_path_factory, "local-fme", parameters={FME_PARAMETER: "enabled"}) as running:
        yield running


def wait_for_fme_events(stack: LocalStack, count: int, timeout: float = FME_TIMEOUT) -> list[dict[str, Any]]:
    assert stack.fme is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(stack.fme.events) >= count:
            return stack.fme.events
        time.sleep(0.2)
    polled = [(i.function, i.result.error, len(i.failed)) for i in stack.invocations]
    raise AssertionError(f"FME got {len(stack.fme.events)} events, not {count}; poller: {polled}")


def user_of_device(stack: LocalStack, device_id: str) -> SandboxUser:
    assert stack.sandbox is not None
    return next(u for u in stack.sandbox.data.users if u.device_id == device_id)


def uid_of_device(stack: LocalStack, device_id: str) -> str:
    return user_of_device(stack, device_id).uid


def test_the_forwarder_runs_only_with_the_parameter_and_with_its_stand_in(stack: LocalStack) -> None:
    assert stack.fme is not None
    assert stack.resources is not None
    assert {"FmeForwarderQueue", "FmeForwarderDLQ"} <= set(stack.resources.queues)
    assert "FmeForwarderRule" in stack.resources.rules
    assert stack.fme.port in stack.ports
    assert any(i.name.startswith("FmeForwarderFunction") for i in stack.emulators)


def test_an_event_put_on_the_bus_reaches_the_fme_stand_in(stack: LocalStack) -> None:
    """The forwarder alone, with the event the investigator publishes put on the bus by hand."""
    assert stack.fme is not None
    before = len(stack.fme.events)
    device = SAMPLE_DEVICE
    delivery = f"req_{uuid.uuid4().hex}"
    detail = {
        "schema_version": 1,
        "delivery_id": delivery,
        "org_id": stack.config.org_id,
        "name": "Checkout Failed",
        "properties": {"reason": "card_declined", "split": {"value": 4.5}, "tags": ["a", "b"]},
        "untyped_properties": [],
        "session_id": f"{device}:8203948571029999",
        "user_id": user_of_device(stack, device).individual_id,
        "device_id": device,
        "replay_url": None,
        "page_url": "https://shop.example.com/checkout",
        "occurred_at": "2026-10-31T23:57:41Z",
        "investigated": True,
    }
    answer = stack.client("events").put_events(
        Entries=[
            {
                "Source": "fstriage",
                "DetailType": "Fullstory Custom Event",
                "Detail": json.dumps(detail),
                "EventBusName": "default",
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0

    events = wait_for_fme_events(stack, before + 1)

    sent = events[before]
    assert sent["eventTypeId"] == "Checkout_Failed"
    assert sent["key"] == uid_of_device(stack, device)
    assert sent["trafficTypeName"] == "user"
    assert sent["value"] == 4.5
    assert sent["properties"]["tags"] == '["a","b"]'
    assert all(request.authorization_ok for request in stack.fme.requests)


def test_a_signed_custom_event_webhook_is_carried_to_fme(stack: LocalStack) -> None:
    """Webhook -> queue -> investigator, which re-publishes the custom event -> rule -> forwarder -> FME."""
    assert stack.fme is not None
    before = len(stack.fme.events)
    delivery: dict[str, Any] = copy.deepcopy(dict(CUSTOM_EVENT))
    delivery["data"]["id"] = f"custom-e2e-{uuid.uuid4().hex[:12]}"
    delivery["data"]["properties"]["split"] = {"value_real": 7.25}

    status, answer, _ = post(stack.webhook_url, delivery)
    assert (status, answer.get("status")) == (202, "queued"), answer

    events = wait_for_fme_events(stack, before + 1)
    sent = events[before]
    assert sent["eventTypeId"] == "Checkout_Failed"
    assert sent["key"] == uid_of_device(stack, SAMPLE_DEVICE)
    assert sent["value"] == 7.25
    assert sent["properties"]["reason"] == "card_declined"
    assert sent["properties"]["fstriage.fullstory_event_name"] == "Checkout Failed"
