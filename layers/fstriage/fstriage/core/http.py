"""HTTP request/response values and the Lambda function URL (payload v2) mapping."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fstriage.core.errors import PayloadError


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    source_ip: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def request_from_function_url_event(event: Mapping[str, Any]) -> HttpRequest:
    """Read a function URL event. The body is decoded to the exact bytes Fullstory signed."""
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
    headers = (
        {str(name).lower(): str(value) for name, value in raw_headers.items()}
        if isinstance(raw_headers, Mapping)
        else {}
    )
    return HttpRequest(
        method=str(http.get("method") or "").upper(),
        path=str(event.get("rawPath") or http.get("path") or "/"),
        headers=headers,
        body=body,
        source_ip=str(http.get("sourceIp") or ""),
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
