"""HTTP request/response values and the Lambda function URL (payload v2) mapping."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fstriage.core.errors import PayloadError, RequestRejected


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request as the function URL delivered it; `body` holds the exact bytes that were signed."""

    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    source_ip: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """An answer: a status, a small JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def request_from_function_url_event(event: Any) -> HttpRequest:
    """Read a function URL event. The body is decoded to the exact bytes Fullstory signed.

    Anything that is not a function URL event (a list, a string, null, fields of the wrong type)
    raises PayloadError, answered 400, never an AttributeError and a 500.
    """
    if not isinstance(event, Mapping):
        raise PayloadError("the event is not a function URL event", reason="invalid_event")
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, Mapping) else None
    http = http if isinstance(http, Mapping) else {}
    raw_body = event.get("body") or ""
    if not isinstance(raw_body, str):
        raise PayloadError("the event's body is not a string", reason="invalid_encoding")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw_body, validate=True)
        except (binascii.Error, ValueError):
            raise PayloadError("base64 body is not valid base64", reason="invalid_encoding") from None
    else:
        body = raw_body.encode("utf-8", errors="surrogatepass")
    raw_headers = event.get("headers")
    if not isinstance(raw_headers, Mapping | None):
        raise PayloadError("the event's headers are not an object", reason="invalid_event")
    headers: dict[str, str] = {}
    for name, value in (raw_headers or {}).items():
        if not (isinstance(name, str) and isinstance(value, str)):
            raise PayloadError("the event's headers are not text", reason="invalid_event")
        headers[name.lower()] = value
    method = http.get("method") or ""
    path = event.get("rawPath") or http.get("path") or "/"
    if not (isinstance(method, str) and isinstance(path, str)):
        raise PayloadError("the event's method or path is not text", reason="invalid_event")
    source_ip = http.get("sourceIp")
    return HttpRequest(
        method=method,  # as sent: methods are case-sensitive, so `post` is not `POST` (a 405)
        path=path,
        headers=headers,
        body=body,
        source_ip=source_ip if isinstance(source_ip, str) else "",
    )


# Charsets that read as UTF-8: JSON must be UTF-8 on the wire (RFC 8259), and ASCII is a subset.
_UTF8_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii"})
JSON_MEDIA_TYPE = "application/json"


def json_media_type_ok(content_type: str | None) -> bool:
    """Whether a Content-Type says JSON we read as UTF-8: `application/json`, with no charset or a
    UTF-8-compatible one. Any other charset (`utf-16`, `latin-1`) would be misread, so it is refused."""
    if content_type is None:
        return False
    media_type, _, parameters = content_type.partition(";")
    if media_type.strip().lower() != JSON_MEDIA_TYPE:
        return False
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in _UTF8_CHARSETS:
            return False
    return True


def require_json_media_type(content_type: str | None) -> None:
    """Raise the 415 the webhook answers to anything but `json_media_type_ok`."""
    if not json_media_type_ok(content_type):
        raise RequestRejected(
            "content type must be application/json (UTF-8)", reason="unsupported_media_type", status=415
        )


def function_url_response(response: HttpResponse) -> dict[str, Any]:
    return {
        "statusCode": response.status,
        "headers": {"content-type": "application/json", **response.headers},
        "body": json.dumps(response.body, separators=(",", ":")),
    }


def function_url_event(
    request: HttpRequest, *, base64_body: bool = False, request_id: str = "local"
) -> dict[str, Any]:
    """The function URL (payload v2) event Lambda would deliver for `request`.

    The inverse of `request_from_function_url_event`; used by tests, `events/` and the local gateway.
    """
    path, _, query = request.path.partition("?")
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": dict(request.headers),
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": "local.lambda-url.localhost",
            "domainPrefix": "local",
            "http": {
                "method": request.method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": request.header("user-agent") or "",
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 0,
        },
        "body": base64.b64encode(request.body).decode() if base64_body else request.body.decode("utf-8"),
        "isBase64Encoded": base64_body,
    }
