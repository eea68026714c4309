"""The intake core with in-memory ports: routes, answers, dedupe, store failures, rotation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from fstriage.core import intake as intake_module
from fstriage.core.errors import PayloadError
from fstriage.core.http import HttpRequest, request_from_function_url_event
from fstriage.core.intake import Intake, IntakePolicy, IntakeResult, parse_networks
from fstriage.core.ports import SigningKeys
from fstriage.core.signature import sign
from fstriage_cli.samples import payloads
from fstriage_cli.samples.fakes import FakeKeys, MemoryLedger, MemoryQueue
from fstriage_cli.samples.values import (
    FULLSTORY_STREAM_IP,
    TEST_ORG_ID,
    TEST_SIGNING_SECRET,
    TEST_STREAM_TOKEN,
)

NOW = 1_761_955_200  # 2025-11-01T00:00:00Z
KEYS = SigningKeys(signing_secrets=(TEST_SIGNING_SECRET,), stream_tokens=(TEST_STREAM_TOKEN,))


@dataclass
class Rig:
    # A forced refresh is allowed and finds the same keys (no rotation).
    keys: FakeKeys = field(default_factory=lambda: FakeKeys(KEYS, fresh=KEYS))
    queue: MemoryQueue = field(default_factory=MemoryQueue)
    ledger: MemoryLedger = field(default_factory=MemoryLedger)
    now: float = NOW
    policy: IntakePolicy = field(
        default_factory=lambda: IntakePolicy(org_id=TEST_ORG_ID, max_body_bytes=64 * 1024)
    )

    slept: list[float] = field(default_factory=list)

    def intake(self) -> Intake:
        return Intake(
            self.policy, self.keys, self.queue, self.ledger, clock=lambda: self.now, sleep=self.sleep
        )

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def post(
        self,
        body: bytes,
        *,
        signature: str | None = None,
        path: str = "/",
        method: str = "POST",
        content_type: str = "application/json",
        source_ip: str = "192.0.2.1",
        extra_headers: Mapping[str, str] | None = None,
    ) -> IntakeResult:
        headers = {"content-type": content_type, **(extra_headers or {})}
        if signature is not None:
            headers["fullstory-signature"] = signature
        return self.intake().handle(HttpRequest(method, path, headers, body, source_ip))

    def post_signed(
        self,
        body: bytes,
        *,
        secret: str = TEST_SIGNING_SECRET,
        org: str = TEST_ORG_ID,
        content_type: str = "application/json",
    ) -> IntakeResult:
        return self.post(body, signature=sign(secret, body, org, int(self.now)), content_type=content_type)


def error_of(result: IntakeResult) -> str:
    return str(result.response.body.get("error"))


@pytest.fixture
def rig() -> Rig:
    return Rig()


def test_signed_alert_is_queued_with_202(rig: Rig) -> None:
    result = rig.post_signed(payloads.encode(payloads.segment_alert()))
    assert result.response.status == 202
    assert result.outcome == "accepted"
    assert len(rig.queue.messages) == 1
    body, attributes = rig.queue.messages[0]
    message = json.loads(body)
    assert message["request_id"] == result.response.body["request_id"]
    assert message["trigger"]["kind"] == "segment_alert"
    assert message["origin"]["org_id"] == TEST_ORG_ID
    assert attributes == {"schema_version": "1", "kind": "segment_alert"}


@pytest.mark.parametrize(
    "document", [payloads.note_created(), payloads.custom_event(), payloads.metric_alert()]
)
def test_each_investigated_event_is_queued(rig: Rig, document: dict[str, object]) -> None:
    assert rig.post_signed(payloads.encode(document)).response.status == 202
    assert len(rig.queue.messages) == 1


def test_test_button_gets_200_and_queues_nothing(rig: Rig) -> None:
    result = rig.post_signed(payloads.encode({"eventName": "test", "version": 1, "data": {"message": "hi"}}))
    assert (result.response.status, result.outcome) == (200, "test")
    assert rig.queue.messages == []


@pytest.mark.parametrize("name", ["segment.created", "something.new"])
def test_verified_but_not_investigated_gets_202_with_reason(rig: Rig, name: str) -> None:
    result = rig.post_signed(payloads.encode({"eventName": name, "version": 1, "data": {}}))
    assert result.response.status == 202
    assert result.response.body["reason"] in {"not_investigated", "unsupported_event"}
    assert rig.queue.messages == []


def test_a_replayed_delivery_is_answered_200_and_queued_once(rig: Rig) -> None:
    body = payloads.encode(payloads.segment_alert())
    signature = sign(TEST_SIGNING_SECRET, body, TEST_ORG_ID, NOW)
    first = rig.post(body, signature=signature)
    rig.now += 1  # replayed a moment later: waits for the first answer, then sees it
    second = rig.post(body, signature=signature)
    assert first.response.status == 202
    assert (second.response.status, second.outcome) == (200, "duplicate")
    assert second.response.body["request_id"] == first.response.body["request_id"]
    assert len(rig.queue.messages) == 1


def test_a_resigned_retry_is_a_duplicate_with_the_same_request_id(rig: Rig) -> None:
    body = payloads.encode(payloads.segment_alert())
    first = rig.post(body, signature=sign(TEST_SIGNING_SECRET, body, TEST_ORG_ID, NOW))
    rig.now += 30
    second = rig.post(body, signature=sign(TEST_SIGNING_SECRET, body, TEST_ORG_ID, NOW + 30))
    assert (first.response.status, second.response.status) == (202, 200)
    assert second.response.body == {"status": "duplicate", "request_id": first.response.body["request_id"]}
    assert len(rig.queue.messages) == 1


def test_the_accepted_path_makes_two_store_calls(rig: Rig) -> None:
    assert rig.post_signed(payloads.encode(payloads.segment_alert())).response.status == 202
    assert dict(rig.ledger.calls) == {"claim": 1}
    assert len(rig.queue.messages) == 1


def test_an_event_without_id_or_time_is_one_investigation_per_window(rig: Rig) -> None:
    document = payloads.custom_event()
    document["data"].pop("id", None)
    del document["data"]["timestamp"]
    body = payloads.encode(document)
    answers = []
    for _ in range(3):  # Fullstory's retries, each signed afresh, inside the window
        answers.append(rig.post_signed(body))
        rig.now += 60
    assert [a.response.status for a in answers] == [202, 200, 200]
    assert len({a.response.body["request_id"] for a in answers}) == 1
    rig.now = NOW + rig.policy.dedupe_window_seconds + 1
    later = rig.post_signed(body)
    assert later.response.status == 202
    assert later.response.body["request_id"] != answers[0].response.body["request_id"]
    assert len(rig.queue.messages) == 2


def test_the_same_event_with_its_own_time_is_deduplicated_past_the_window(rig: Rig) -> None:
    document = payloads.custom_event()
    document["data"].pop("id", None)
    body = payloads.encode(document)
    assert rig.post_signed(body).response.status == 202
    rig.now += rig.policy.dedupe_window_seconds * 3
    assert rig.post_signed(body).response.status == 200
    assert len(rig.queue.messages) == 1


def test_a_stream_without_event_time_is_new_again_after_the_window(rig: Rig) -> None:
    document = payloads.stream_session(payloads.SESSION_URL)
    del document["event_time"]
    body = payloads.encode(document)
    path = "/streams/" + TEST_STREAM_TOKEN

    def send() -> IntakeResult:
        return rig.post(body, path=path, source_ip=FULLSTORY_STREAM_IP)

    assert send().response.status == 202
    rig.now += 120
    assert send().response.status == 200
    rig.now += rig.policy.dedupe_window_seconds
    assert send().response.status == 202  # two days later would be new too: not dropped for the TTL
    assert len(rig.queue.messages) == 2


def test_queue_failure_is_503_with_retry_after_and_releases_the_claim(rig: Rig) -> None:
    body = payloads.encode(payloads.segment_alert())
    signature = sign(TEST_SIGNING_SECRET, body, TEST_ORG_ID, NOW)
    rig.queue.unavailable = True
    failed = rig.post(body, signature=signature)
    assert failed.response.status == 503
    assert failed.response.headers["retry-after"].isdigit()
    assert error_of(failed) == "queue_unavailable"
    assert rig.ledger.items == {}
    rig.queue.unavailable = False
    retried = rig.post(body, signature=signature)
    assert retried.response.status == 202
    assert len(rig.queue.messages) == 1


def test_a_claim_that_cannot_be_released_is_an_error_not_a_silent_duplicate(rig: Rig) -> None:
    rig.queue.unavailable = True
    rig.ledger.release_fails = True
    failed = rig.post_signed(payloads.encode(payloads.segment_alert()))
    assert (failed.response.status, failed.outcome, error_of(failed)) == (503, "claim_stuck", "claim_stuck")
    assert failed.detail is not None and "req_" in failed.detail  # the log names the request to re-send


def test_a_concurrent_copy_waits_for_the_first_and_is_a_duplicate(rig: Rig) -> None:
    body = payloads.encode(payloads.segment_alert())
    first = rig.post_signed(body)
    # The copy arrives at the same instant, while the first claimant's answer is still due.
    copy = rig.post_signed(body)
    assert (copy.response.status, copy.response.body["status"]) == (200, "duplicate")
    assert copy.response.body["request_id"] == first.response.body["request_id"]
    assert len(rig.slept) == 1 and 0 < rig.slept[0] <= rig.policy.answer_budget_seconds
    assert len(rig.queue.messages) == 1


def test_a_concurrent_copy_that_cannot_wait_is_told_to_retry(rig: Rig) -> None:
    body = payloads.encode(payloads.segment_alert())
    rig.post_signed(body)
    rig.now -= 0.5  # its own budget ends before the first answer is due, plus time to look it up
    copy = rig.post_signed(body)
    assert (copy.response.status, error_of(copy)) == (503, "in_flight")
    assert copy.response.headers["retry-after"] == "3"
    assert rig.slept == []


def test_a_copy_whose_first_claimant_released_is_told_to_retry_then_queued(rig: Rig) -> None:
    body = payloads.encode(payloads.segment_alert())
    rig.post_signed(body)
    identity = next(iter(rig.ledger.items))
    rig.now += 0.5
    original_sleep = rig.sleep

    def first_claimant_gives_up(seconds: float) -> None:
        original_sleep(seconds)
        rig.ledger.items.pop(identity)  # its send failed and it deleted the claim meanwhile

    rig.sleep = first_claimant_gives_up  # type: ignore[method-assign]
    copy = rig.post_signed(body)
    assert (copy.response.status, error_of(copy)) == (503, "in_flight")
    assert rig.post_signed(body).response.status == 202


def test_the_send_is_bounded_by_the_answer_budget(rig: Rig) -> None:
    assert rig.post_signed(payloads.encode(payloads.segment_alert())).response.status == 202
    deadline = rig.queue.deadlines[0]
    assert deadline is not None
    # The send must finish in time to delete the claim if it fails, inside the budget.
    budget_end = NOW + rig.policy.answer_budget_seconds
    assert (
        deadline.ends_at == budget_end - rig.policy.store_call_seconds - intake_module.WAKE_UP_MARGIN_SECONDS
    )


def test_ledger_failure_is_503_and_nothing_is_queued(rig: Rig) -> None:
    rig.ledger.unavailable = True
    result = rig.post_signed(payloads.encode(payloads.segment_alert()))
    assert result.response.status == 503
    assert error_of(result) == "ledger_unavailable"
    assert rig.queue.messages == []


def test_secret_store_failure_is_503(rig: Rig) -> None:
    rig.keys.unavailable = True
    result = rig.post_signed(payloads.encode(payloads.segment_alert()))
    assert result.response.status == 503
    assert error_of(result) == "secrets_unavailable"


def test_previous_secret_version_is_accepted_during_rotation(rig: Rig) -> None:
    rig.keys = FakeKeys(SigningKeys(signing_secrets=("new-secret", "old-secret"), stream_tokens=()))
    assert (
        rig.post_signed(payloads.encode(payloads.note_created()), secret="old-secret").response.status == 202
    )
    assert (
        rig.post_signed(payloads.encode(payloads.metric_alert()), secret="new-secret").response.status == 202
    )
    assert rig.keys.refreshes == 0


def test_a_newer_secret_than_the_cache_is_found_by_one_refresh(rig: Rig) -> None:
    rig.keys = FakeKeys(
        KEYS, fresh=SigningKeys(signing_secrets=("rotated", TEST_SIGNING_SECRET), stream_tokens=())
    )
    assert rig.post_signed(payloads.encode(payloads.segment_alert()), secret="rotated").response.status == 202
    assert rig.keys.refreshes == 1


def test_a_wrong_secret_is_401_when_the_keys_are_newer_than_the_signature(rig: Rig) -> None:
    rig.keys = FakeKeys(SigningKeys((TEST_SIGNING_SECRET,), (), loaded_at=NOW + 60))
    rig.now += 60
    body = payloads.encode(payloads.segment_alert())
    result = rig.post(body, signature=sign("wrong", body, TEST_ORG_ID, NOW))
    assert (result.response.status, error_of(result)) == (401, "bad_signature")
    assert rig.keys.refreshes == 1
    assert rig.queue.messages == []


def test_a_wrong_secret_is_503_when_a_rotation_may_be_newer_than_the_keys(rig: Rig) -> None:
    rig.keys = FakeKeys(SigningKeys((TEST_SIGNING_SECRET,), (), loaded_at=NOW - 30))
    result = rig.post_signed(payloads.encode(payloads.segment_alert()), secret="rotated-since")
    assert (result.response.status, error_of(result)) == (503, "secret_refresh_limited")
    assert int(result.response.headers["retry-after"]) == rig.policy.secret_refresh_retry_seconds
    assert rig.queue.messages == []


def test_a_wrong_secret_is_401_when_a_refresh_was_possible(rig: Rig) -> None:
    rig.keys = FakeKeys(KEYS, fresh=KEYS)
    result = rig.post_signed(payloads.encode(payloads.segment_alert()), secret="wrong")
    assert (result.response.status, error_of(result)) == (401, "bad_signature")


def test_cheap_checks_never_trigger_a_secret_refresh(rig: Rig) -> None:
    body = payloads.encode(payloads.segment_alert())
    rig.post(body, signature=sign("wrong", body, "o-OTHER", NOW))
    rig.post(body, signature=sign("wrong", body, TEST_ORG_ID, NOW - 10_000))
    rig.post(body, signature="o:x,t:1")
    assert rig.keys.refreshes == 0


# Bad input: a clear 4xx, nothing queued.
BAD_SIGNATURES = {
    "no header": (None, "missing_signature"),
    "empty header": ("", "missing_signature"),
    "o missing": (f"t:{NOW},v:" + "A" * 43 + "=", "malformed_signature"),
    "t missing": (f"o:{TEST_ORG_ID},v:" + "A" * 43 + "=", "malformed_signature"),
    "v missing": (f"o:{TEST_ORG_ID},t:{NOW}", "malformed_signature"),
    "o duplicated": (f"o:{TEST_ORG_ID},o:{TEST_ORG_ID},t:{NOW},v:" + "A" * 43 + "=", "malformed_signature"),
    "garbled": ("o=x;t=1;v=2", "malformed_signature"),
    "v not base64": (f"o:{TEST_ORG_ID},t:{NOW},v:%%%notbase64%%%", "malformed_signature"),
    "t not numeric": (f"o:{TEST_ORG_ID},t:yesterday,v:" + "A" * 43 + "=", "malformed_signature"),
}


@pytest.mark.parametrize("case", sorted(BAD_SIGNATURES))
def test_bad_signature_headers_are_401(rig: Rig, case: str) -> None:
    signature, reason = BAD_SIGNATURES[case]
    result = rig.post(payloads.encode(payloads.segment_alert()), signature=signature)
    assert (result.response.status, error_of(result)) == (401, reason)
    assert rig.queue.messages == []


def test_tampered_body_is_401(rig: Rig) -> None:
    body = payloads.encode(payloads.segment_alert())
    signature = sign(TEST_SIGNING_SECRET, body, TEST_ORG_ID, NOW)
    result = rig.post(body.replace(b"Checkout", b"Chekcout"), signature=signature)
    assert (result.response.status, error_of(result)) == (401, "bad_signature")


def test_wrong_org_is_401(rig: Rig) -> None:
    result = rig.post_signed(payloads.encode(payloads.segment_alert()), org="o-OTHER-na1")
    assert (result.response.status, error_of(result)) == (401, "wrong_org")


@pytest.mark.parametrize("skew", [-301, 301])
def test_stale_or_future_timestamp_is_401(rig: Rig, skew: int) -> None:
    body = payloads.encode(payloads.segment_alert())
    result = rig.post(body, signature=sign(TEST_SIGNING_SECRET, body, TEST_ORG_ID, NOW + skew))
    assert (result.response.status, error_of(result)) == (401, "stale_timestamp")


def test_millisecond_timestamps_are_accepted(rig: Rig) -> None:
    body = payloads.encode(payloads.segment_alert())
    result = rig.post(body, signature=sign(TEST_SIGNING_SECRET, body, TEST_ORG_ID, NOW * 1000 - 5000))
    assert result.response.status == 202


BAD_BODIES: dict[str, tuple[bytes, str]] = {
    "not utf-8": (b'{"eventName": "test", "x": "\xff\xfe"}', "invalid_encoding"),
    "not json": (b"eventName=test", "invalid_json"),
    "a list": (b'[{"eventName": "test"}]', "invalid_payload"),
    "deeply nested": (b'{"eventName":"test","data":' + b'{"a":' * 40 + b"1" + b"}" * 41, "too_deep"),
    "pathologically nested": (b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "too_deep"),
    "missing data": (b'{"eventName": "note.created"}', "invalid_payload"),
    "wrong types": (b'{"eventName": "note.created", "data": {"sessionUrl": 5}}', "invalid_payload"),
    "missing eventName": (b'{"data": {}}', "invalid_payload"),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_bodies_are_400(rig: Rig, case: str) -> None:
    body, reason = BAD_BODIES[case]
    rig.policy = IntakePolicy(org_id=TEST_ORG_ID, max_body_bytes=1_048_576)
    result = rig.post_signed(body)
    assert (result.response.status, error_of(result)) == (400, reason)
    assert rig.queue.messages == []


@pytest.mark.parametrize("content_type", ["text/plain", "", "application/x-www-form-urlencoded"])
def test_non_json_content_type_is_415(rig: Rig, content_type: str) -> None:
    result = rig.post_signed(payloads.encode(payloads.segment_alert()), content_type=content_type)
    assert (result.response.status, error_of(result)) == (415, "unsupported_media_type")


def test_json_content_type_with_parameters_is_fine(rig: Rig) -> None:
    result = rig.post_signed(
        payloads.encode(payloads.segment_alert()), content_type="Application/JSON; charset=utf-8"
    )
    assert result.response.status == 202


def test_oversize_body_is_413_before_any_secret_is_read(rig: Rig) -> None:
    rig.keys.unavailable = True  # proves the size check comes first
    result = rig.post(b"{" + b" " * (64 * 1024) + b"}", signature="o:x,t:1,v:x")
    assert (result.response.status, error_of(result)) == (413, "body_too_large")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
def test_wrong_method_is_405(rig: Rig, method: str) -> None:
    result = rig.post(b"", method=method)
    assert result.response.status == 405
    assert result.response.headers["allow"] == "POST"


@pytest.mark.parametrize("path", ["/nope", "/streams", "/streams/", "/streams/a/b", "//"])
def test_unknown_path_is_404(rig: Rig, path: str) -> None:
    assert rig.post(b"{}", path=path).response.status == 404


# Streams
def stream_post(
    rig: Rig, document: object, *, token: str = TEST_STREAM_TOKEN, ip: str = FULLSTORY_STREAM_IP
) -> IntakeResult:
    return rig.post(json.dumps(document).encode(), path=f"/streams/{token}", source_ip=ip)


def test_stream_with_token_from_fullstory_range_is_queued(rig: Rig) -> None:
    result = stream_post(rig, {"app_url_session": payloads.SESSION_URL, "user_email": "jane@example.test"})
    assert result.response.status == 202
    message = json.loads(rig.queue.messages[0][0])
    assert message["subject"]["session_ids"] == [payloads.API_SESSION_ID]
    assert message["origin"]["delivery_key"].startswith("win:")  # no event_time: deduplicated by window


def test_a_duplicated_stream_delivery_is_queued_once(rig: Rig) -> None:
    document = {"user_id": "u-1", "event_time": "2026-11-01T00:00:00Z"}
    assert stream_post(rig, document).response.status == 202
    rig.now += rig.policy.answer_budget_seconds  # after the first was answered: no wait
    assert stream_post(rig, document).response.status == 200
    assert rig.slept == []
    assert len(rig.queue.messages) == 1


def test_wrong_stream_token_is_403(rig: Rig) -> None:
    result = stream_post(rig, {"user_id": "u-1"}, token="guess")
    assert (result.response.status, error_of(result)) == (403, "bad_stream_token")
    assert rig.queue.messages == []


def test_stream_from_outside_the_allow_list_is_403_even_with_the_token(rig: Rig) -> None:
    result = stream_post(rig, {"user_id": "u-1"}, ip="203.0.113.9")
    assert (result.response.status, error_of(result)) == (403, "source_not_allowed")


def test_streams_are_off_until_a_token_is_configured(rig: Rig) -> None:
    rig.keys = FakeKeys(SigningKeys(signing_secrets=(TEST_SIGNING_SECRET,), stream_tokens=()))
    result = stream_post(rig, {"user_id": "u-1"}, token="anything")
    assert (result.response.status, error_of(result)) == (403, "streams_disabled")


def test_an_open_allow_list_admits_any_source(rig: Rig) -> None:
    rig.policy = IntakePolicy(org_id=TEST_ORG_ID, stream_allow_list=parse_networks("0.0.0.0/0,::/0"))
    assert stream_post(rig, {"user_id": "u-1"}, ip="203.0.113.9").response.status == 202


def test_stream_without_subject_is_400(rig: Rig) -> None:
    assert stream_post(rig, {"stream_name": "x"}).response.status == 400


def test_responses_never_echo_signature_secret_or_body(rig: Rig) -> None:
    body = payloads.encode(payloads.note_created())
    signature = sign("wrong-secret", body, TEST_ORG_ID, NOW)
    for result in (
        rig.post(body, signature=signature),
        rig.post(b"not json at all " + TEST_SIGNING_SECRET.encode(), signature=signature),
        stream_post(rig, {"user_id": "u-1"}, token="guess-token"),
    ):
        text = json.dumps(result.response.body)
        for secret_ish in (signature.split("v:")[1], TEST_SIGNING_SECRET, "Pay now", "guess-token"):
            assert secret_ish not in text


def test_a_signed_payload_too_large_to_queue_is_413_not_an_endless_503(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Per-field limits keep real payloads far below SQS's 256 KiB; the last guard before the queue
    # is checked here with a small limit. Non-ASCII grows sixfold in the queued JSON.
    monkeypatch.setattr(intake_module, "MAX_MESSAGE_CHARS", 20_000)
    document = payloads.segment_alert()
    document["data"]["alertConfig"].update({key: "é" * 2000 for key in ("alertUrl", "segmentName")})
    result = rig.post_signed(payloads.encode(document))
    assert (result.response.status, error_of(result)) == (413, "payload_too_large")
    assert rig.queue.messages == [] and rig.ledger.items == {}


def test_an_overlong_identifier_is_a_400(rig: Rig) -> None:
    document = payloads.segment_alert()
    document["data"]["alertConfig"]["segmentName"] = "x" * 5000
    result = rig.post_signed(payloads.encode(document))
    assert (result.response.status, error_of(result)) == (400, "invalid_payload")


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-01:00", "1970-01-01T00:00:00Z"]
)
def test_an_impossible_event_time_falls_back_to_the_receipt_time(rig: Rig, moment: str) -> None:
    document = payloads.note_created()
    document["data"]["notedTime"] = moment
    result = rig.post_signed(payloads.encode(document))
    assert result.response.status == 202
    assert json.loads(rig.queue.messages[0][0])["trigger"]["occurred_at"].startswith("2025-11-01T00:00:00")


def test_streams_org_scoped_session_id_uses_the_mapped_device(rig: Rig) -> None:
    document = {"session": {"session_id": f"{TEST_ORG_ID}:1110765439578976", "device_id": "5557778531805533"}}
    assert stream_post(rig, document).response.status == 202
    assert json.loads(rig.queue.messages[0][0])["subject"]["session_ids"] == [
        "5557778531805533:1110765439578976"
    ]
    result = stream_post(rig, {"session_id": f"{TEST_ORG_ID}:1110765439578976"})
    assert (result.response.status, error_of(result)) == (400, "invalid_session_id")
    assert "device_id" in str(result.response.body["message"])


def test_hostile_strings_in_the_header_or_token_fail_the_check_without_crashing(rig: Rig) -> None:
    body = payloads.encode(payloads.segment_alert())
    forged = rig.post(body, signature=f"o:\ud800,t:{NOW},v:" + "A" * 43 + "=")
    assert (forged.response.status, error_of(forged)) == (401, "wrong_org")
    assert stream_post(rig, {"user_id": "u-1"}, token="\ud800").response.status == 403


@pytest.mark.parametrize(
    "event",
    [
        {"requestContext": None, "rawPath": "/", "body": "{}"},
        {"requestContext": {"http": None}, "headers": None, "body": None, "isBase64Encoded": True},
        {"requestContext": {"http": {"method": "POST"}}, "rawPath": "/", "body": 5},
    ],
)
def test_odd_function_url_events_get_a_4xx_not_a_crash(event: dict[str, object]) -> None:
    try:
        request = request_from_function_url_event(event)
    except PayloadError as refused:
        assert refused.status == 400
        return
    assert Rig().intake().handle(request).response.status in {401, 404, 405}
