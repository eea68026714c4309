"""The FME forwarder's uid lookup by either of the user's IDs (fstriage.fme_app), with fake clients:
which form is tried, what is cached, what is counted and logged."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any, cast

import pytest
from aws_lambda_powertools import Logger, Metrics

from fstriage import fme_app
from fstriage.core.errors import FullstoryNotFound, FullstoryServerError
from fstriage.core.fullstory_models import FullstoryUser
from fstriage_cli.samples.fakes import FakeLambdaContext

INDIVIDUAL, DEVICE = "4823749283749823", "5741938475610293"
MISMATCH = "Fullstory knows the user by the device ID, not the individual ID"


class FakeFullstory:
    """Answers `user(id)` for the IDs in `known` (id -> uid, "" for anonymous); 404 otherwise."""

    def __init__(self, known: dict[str, str], failing: frozenset[str] = frozenset()) -> None:
        self.known = known
        self.failing = failing
        self.asked: list[str] = []

    def __call__(self, *args: Any, **kwargs: Any) -> FakeFullstory:
        return self  # stands in for the FullstoryClient class

    def with_deadline(self, remaining: Callable[[], float]) -> FakeFullstory:
        return self

    def user(self, user_id: str) -> FullstoryUser:
        self.asked.append(user_id)
        if user_id in self.failing:
            raise FullstoryServerError("HTTP 503", status=503)
        if user_id not in self.known:
            raise FullstoryNotFound("HTTP 404", status=404)
        return FullstoryUser(id=user_id, uid=self.known[user_id] or None, email=None, display_name=None)


class FakeFme:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> FakeFme:
        return self

    def post(self, events: Sequence[dict[str, Any]], remaining: Callable[[], float]) -> None:
        self.events.extend(events)


class Counts:
    """Stands in for the app's `Metrics`: the plain counts it adds, by name."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def add_metric(self, *, name: str, unit: Any, value: float) -> None:
        self.values[name] = self.values.get(name, 0) + value


class Forwarder:
    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fullstory: FakeFullstory
    ) -> None:
        self.fullstory, self.fme, self.capsys = fullstory, FakeFme(), capsys
        # Not Powertools' Metrics: its metric set is shared by every instance, so other tests would flush it.
        self.counts = Counts()
        monkeypatch.setattr(fme_app, "FullstoryClient", fullstory)
        monkeypatch.setattr(fme_app, "FmeEventsClient", self.fme)
        settings = fme_app.FmeForwarderSettings(api_key_secret_arn="arn:fs", fme_key_secret_arn="arn:fme")
        runtime = fme_app.FmeRuntime(settings, fullstory_key=lambda: "fs-key", fme_key=lambda: "fme-key")
        self.app = fme_app.FmeForwarderApp(
            # A fresh logger name per test: Powertools keeps a logger's handler (and so its stdout).
            runtime,
            Logger(service=f"fme-unit-{uuid.uuid4().hex}"),
            cast(Metrics, self.counts),
        )
        self.sent = 0

    def run(self, *details: dict[str, Any]) -> tuple[dict[str, float], list[dict[str, Any]]]:
        records = []
        for detail in details:
            self.sent += 1
            body = {"source": "fstriage", "detail-type": "Fullstory Custom Event", "detail": detail}
            records.append({"messageId": f"m-{self.sent}", "body": json.dumps(body)})
        self.capsys.readouterr()
        context = FakeLambdaContext(remaining_ms=60_000)
        assert self.app.handle({"Records": records}, context) == {"batchItemFailures": []}
        dimensioned: dict[str, float] = {}
        lines: list[dict[str, Any]] = []
        for line in self.capsys.readouterr().out.splitlines():
            document = json.loads(line)
            if "_aws" in document and "id_form" in document:
                key = f"FmeUserLookupAnswered:{document['id_form']}"
                value = document["FmeUserLookupAnswered"]
                dimensioned[key] = dimensioned.get(key, 0) + (
                    sum(value) if isinstance(value, list) else value
                )
            elif "_aws" not in document:
                lines.append(document)
        return dimensioned, lines


def detail(number: int = 1, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema_version": 1,
        "delivery_id": f"req_{number:032x}",
        "name": "checkout.failed",
        "properties": {},
        "session_id": f"{DEVICE}:8203948571029384",
        "user_id": INDIVIDUAL,
        "device_id": DEVICE,
        "occurred_at": "2026-10-31T23:57:41Z",
    }
    return base | fields


def mismatches(lines: list[dict[str, Any]]) -> int:
    return sum(line.get("message") == MISMATCH for line in lines)


def test_the_individual_id_answers_first(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    forwarder = Forwarder(monkeypatch, capsys, FakeFullstory({INDIVIDUAL: "user-1", DEVICE: "user-1"}))
    metrics, lines = forwarder.run(detail())
    assert forwarder.fullstory.asked == [INDIVIDUAL]
    assert [e["key"] for e in forwarder.fme.events] == ["user-1"]
    assert metrics == {"FmeUserLookupAnswered:individual": 1}
    assert mismatches(lines) == 0


def test_an_unknown_individual_id_falls_back_to_the_device_once(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    forwarder = Forwarder(monkeypatch, capsys, FakeFullstory({DEVICE: "user-1"}))
    metrics, lines = forwarder.run(detail(1), detail(2))
    assert forwarder.fullstory.asked == [INDIVIDUAL, DEVICE]  # the second event: both answers cached
    assert [e["key"] for e in forwarder.fme.events] == ["user-1", "user-1"]
    assert metrics == {"FmeUserLookupAnswered:device": 1}
    assert mismatches(lines) == 1
    # Both answers cached by their own ID: the individual's 404 briefly, the device's uid.
    assert forwarder.counts.values["FmeUserLookup"] == 2
    assert forwarder.counts.values["FmeUidCacheHit"] == 2


def test_no_individual_id_means_the_device_alone(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    forwarder = Forwarder(monkeypatch, capsys, FakeFullstory({DEVICE: "user-1"}))
    metrics, lines = forwarder.run(detail(user_id=None))
    assert forwarder.fullstory.asked == [DEVICE]
    assert metrics == {"FmeUserLookupAnswered:device": 1}
    assert mismatches(lines) == 0


def test_both_ids_unknown_drops_the_event(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    forwarder = Forwarder(monkeypatch, capsys, FakeFullstory({}))
    metrics, lines = forwarder.run(detail())
    assert forwarder.fullstory.asked == [INDIVIDUAL, DEVICE]
    assert forwarder.fme.events == []
    assert metrics == {}
    (dropped,) = [line for line in lines if line.get("message") == "event not forwarded to FME"]
    assert dropped["reason"] == "unknown_user"


def test_an_anonymous_individual_is_not_looked_up_again_by_device(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    forwarder = Forwarder(monkeypatch, capsys, FakeFullstory({INDIVIDUAL: "", DEVICE: "user-1"}))
    metrics, lines = forwarder.run(detail())
    assert forwarder.fullstory.asked == [INDIVIDUAL]  # it answered: the person has no uid
    assert metrics == {"FmeUserLookupAnswered:individual": 1}
    assert [line["reason"] for line in lines if line.get("reason")] == ["anonymous_user"]


def test_an_id_fullstory_could_not_have_made_is_skipped_for_the_other(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    fake = FakeFullstory({DEVICE: "user-1"})
    original = fake.user

    def user(user_id: str) -> FullstoryUser:
        if "/" in user_id:
            raise ValueError("not an ID")
        return original(user_id)

    fake.user = user  # type: ignore[method-assign]
    forwarder = Forwarder(monkeypatch, capsys, fake)
    forwarder.run(detail(user_id="../me"))
    assert [e["key"] for e in forwarder.fme.events] == ["user-1"]
    _, lines = forwarder.run(detail(2, user_id="../me", device_id="../x", session_id=None))
    assert [line["reason"] for line in lines if line.get("reason")] == ["invalid_user_id"]


def test_a_fullstory_outage_on_the_individual_id_is_retried_not_fallen_back(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    forwarder = Forwarder(
        monkeypatch, capsys, FakeFullstory({DEVICE: "user-1"}, failing=frozenset({INDIVIDUAL}))
    )
    body = {"source": "fstriage", "detail-type": "Fullstory Custom Event", "detail": detail()}
    answer = forwarder.app.handle(
        {"Records": [{"messageId": "m", "body": json.dumps(body)}]}, FakeLambdaContext(remaining_ms=60_000)
    )
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m"}]}
    assert forwarder.fullstory.asked == [INDIVIDUAL]
    assert forwarder.fme.events == []
