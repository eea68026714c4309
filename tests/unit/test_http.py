"""The function URL event mapping, the JSON media type check, and the local gateway's method handling."""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from fstriage.core.errors import PayloadError, RequestRejected
from fstriage.core.http import (
    HttpRequest,
    function_url_event,
    json_media_type_ok,
    request_from_function_url_event,
    require_json_media_type,
)
from fstriage_cli.local.gateway import FunctionUrlGateway
from fstriage_cli.local.rie import Invocation


def event(**overrides: Any) -> dict[str, Any]:
    base = function_url_event(
        HttpRequest("POST", "/", {"content-type": "application/json"}, b'{"a":1}', "8.35.195.1")
    )
    base.update(overrides)
    return base


def test_an_event_round_trips() -> None:
    request = HttpRequest("POST", "/streams/t", {"x-a": "1"}, b"\x00\xff body", "8.35.195.1")
    assert request_from_function_url_event(function_url_event(request, base64_body=True)) == request


@pytest.mark.parametrize("value", [None, [], ["requestContext"], "event", 42, b"{}"])
def test_an_event_that_is_not_an_object_is_a_payload_error(value: Any) -> None:
    with pytest.raises(PayloadError) as raised:
        request_from_function_url_event(value)
    assert (raised.value.status, raised.value.reason) == (400, "invalid_event")


@pytest.mark.parametrize(
    "overrides",
    [
        {"headers": ["content-type", "application/json"]},
        {"headers": "content-type: application/json"},
        {"headers": {"content-type": None}},
        {"headers": {"x-n": 5}},
        {"rawPath": 7},
        {"rawPath": ["/"]},
        {"requestContext": {"http": {"method": 1}}},
        {"requestContext": {"http": {"method": ["POST"]}}},
    ],
)
def test_fields_of_the_wrong_type_are_payload_errors(overrides: dict[str, Any]) -> None:
    with pytest.raises(PayloadError) as raised:
        request_from_function_url_event(event(**overrides))
    assert raised.value.status == 400


@pytest.mark.parametrize(
    "overrides",
    [
        {"requestContext": None},
        {"requestContext": "x"},
        {"requestContext": {"http": []}},
        {"requestContext": {"http": {"sourceIp": 12}}},
        {"headers": None},
        {"body": None},
    ],
)
def test_missing_or_odd_context_reads_as_empty(overrides: dict[str, Any]) -> None:
    request = request_from_function_url_event(event(**overrides))
    assert isinstance(request.method, str) and isinstance(request.source_ip, str)


def test_bodies_that_are_not_text_or_not_base64_are_payload_errors() -> None:
    with pytest.raises(PayloadError):
        request_from_function_url_event(event(body=["x"]))
    with pytest.raises(PayloadError):
        request_from_function_url_event(event(body="not base64!", isBase64Encoded=True))
    with pytest.raises(PayloadError):
        request_from_function_url_event(event(body="é", isBase64Encoded=True))
    decoded = request_from_function_url_event(
        event(body=base64.b64encode(b"\xff").decode(), isBase64Encoded=True)
    )
    assert decoded.body == b"\xff"


def test_the_method_is_kept_as_sent() -> None:
    request = request_from_function_url_event(event(requestContext={"http": {"method": "post"}}))
    assert request.method == "post"  # not POST: methods are case-sensitive, so the webhook answers 405


def test_a_lone_surrogate_in_a_text_body_survives_as_bytes_that_are_not_utf8() -> None:
    body = request_from_function_url_event(event(body='{"a":"\ud800"}')).body
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        'application/json; charset="utf-8"',
        "application/json; charset=utf8",
        "application/json; charset=us-ascii",
        "application/json; boundary=x",
    ],
)
def test_json_media_types_read_as_utf8_are_ok(content_type: str) -> None:
    assert json_media_type_ok(content_type)
    require_json_media_type(content_type)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "application/jsonx",
        "application/json; charset=utf-16",
        "application/json; charset=UTF-16LE",
        "application/json; charset=latin-1",
        "application/json; charset=",
        "application/json; charset=utf-8; charset=utf-16",
    ],
)
def test_other_media_types_and_charsets_are_415(content_type: str | None) -> None:
    assert not json_media_type_ok(content_type)
    with pytest.raises(RequestRejected) as raised:
        require_json_media_type(content_type)
    assert (raised.value.status, raised.value.reason) == (415, "unsupported_media_type")


# --- the local gateway -------------------------------------------------------------------------


@pytest.fixture
def gateway() -> Iterator[tuple[FunctionUrlGateway, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    def invoke(received: dict[str, Any]) -> Invocation:
        seen.append(received)
        method = received["requestContext"]["http"]["method"]
        answer = {"statusCode": 405 if method != "POST" else 202, "body": json.dumps({"method": method})}
        return Invocation(answer, None, 0.0)

    server = FunctionUrlGateway(0)
    server.start(invoke)
    try:
        yield server, seen
    finally:
        server.stop()


@pytest.mark.parametrize("method", ["post", "Post", "POST", "GET", "BREW", "x-custom"])
def test_the_gateway_forwards_any_method_token_as_sent(
    gateway: tuple[FunctionUrlGateway, list[dict[str, Any]]], method: str
) -> None:
    server, seen = gateway
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, "/", body=b"{}", headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == (202 if method == "POST" else 405)
    assert body == {"method": method}
    assert seen[-1]["requestContext"]["http"]["method"] == method
