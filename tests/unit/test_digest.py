"""Events -> signals -> error groups: what an investigation report will say about a session."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fstriage.core.digest import (
    MAX_EXAMPLE_CHARS,
    SessionDigest,
    Signal,
    digest_context,
    digest_events,
    digest_export_rows,
    group_errors,
    normalise_message,
    normalise_path,
    rank_export_sessions,
)

PAGE = "https://shop.example.com/checkout/7781?step=pay"


def raw(
    event_type: str,
    properties: dict[str, Any] | None,
    *,
    at: str = "2024-04-03T17:06:12.290Z",
    view: str = "4376",
    page: str = PAGE,
) -> dict[str, Any]:
    """One event as `GET /v2/sessions/{id}/events` returns it (type, time, properties, page)."""
    event: dict[str, Any] = {
        "device_id": "17117",
        "session_id": "5916",
        "view_id": view,
        "event_time": at,
        "event_type": event_type,
        "source_type": "web",
        "source_properties": {
            "url": {"full_url": page, "host": "shop.example.com", "path": page.split("example.com")[1]}
        },
    }
    if properties is not None:
        event["event_properties"] = properties
    return event


def console(message: str, level: str = "error", **extra: Any) -> dict[str, Any]:
    return raw("console_message", {"message": message, "level": level, **extra})


def request(method: str, url: str, status: int | None, **extra: Any) -> dict[str, Any]:
    props: dict[str, Any] = {"method": method, "url": url, "duration_ms": 120, **extra}
    if status is not None:
        props["status_code"] = status
    return raw("request", props)


def click(
    text: str = "Pay now", *, rage: bool = False, dead: bool = False, error: bool = False
) -> dict[str, Any]:
    return raw(
        "click",
        {
            "target": {"text": text, "raw_selector": "button.pay"},
            "is_rage_click": rage,
            "is_dead_click": dead,
            "is_error_click": error,
        },
    )


def only(digest: SessionDigest) -> Signal:
    assert len(digest.signals) == 1, [signal.signature for signal in digest.signals]
    return digest.signals[0]


# --- signals from raw events ----------------------------------------------------------------------


def test_console_errors_become_one_signal_with_count_source_and_time_span() -> None:
    digest = digest_events(
        "d:1",
        [
            raw(
                "console_message",
                {
                    "message": "Payment widget failed",
                    "level": "error",
                    "source_url": "https://cdn.x/app.js?v=9",
                },
                at="2024-04-03T17:06:12.290Z",
            ),
            raw(
                "console_message",
                {"message": "Payment widget failed", "level": "error"},
                at="2024-04-03T17:09:00.000Z",
            ),
        ],
    )

    signal = only(digest)
    assert signal.kind == "console_error"
    assert signal.signature == "console_error: Payment widget failed"
    assert signal.message == "Payment widget failed"
    assert signal.source == "https://cdn.x/app.js"
    assert signal.count == 2
    assert (signal.first_seen, signal.last_seen) == ("2024-04-03T17:06:12.290Z", "2024-04-03T17:09:00.000Z")
    assert digest.error_signal_count == 2


@pytest.mark.parametrize("level", ["warn", "warning", "log", "info", "debug"])
def test_console_messages_below_error_are_ignored(level: str) -> None:
    digest = digest_events("d:1", [console("just chatter", level=level)])

    assert digest.signals == ()
    assert digest.unclassified == {}
    assert digest.event_count == 1


def test_uncaught_exception_keeps_readable_message_and_source_line() -> None:
    digest = digest_events(
        "d:1",
        [
            raw(
                "exception",
                {
                    "message": "Cannot read properties of undefined (reading 'total')",
                    "name": "TypeError",
                    "source_url": "https://shop.example.com/static/main.3f2a9b1c.js",
                    "line_number": 42,
                },
            )
        ],
    )

    signal = only(digest)
    assert signal.kind == "exception"
    assert signal.signature == "exception: TypeError: Cannot read properties of undefined (reading 'total')"
    assert signal.source == "https://shop.example.com/static/main.3f2a9b1c.js:42"
    assert "TypeError: Cannot read properties of undefined" in signal.example


def test_failed_requests_are_counted_and_successful_ones_ignored() -> None:
    digest = digest_events(
        "d:1",
        [
            request("GET", "https://api.example.com/api/v1/cart", 200),
            request("GET", "https://api.example.com/api/v1/cart", 304),
            request("POST", "https://api.example.com/api/v1/orders/1001/pay?token=abc", 502),
            request("POST", "https://api.example.com/api/v1/orders/1002/pay?token=def", 502),
            request("GET", "/api/v1/products/55", 404),
        ],
    )

    by_signature = {signal.signature: signal for signal in digest.signals}
    assert set(by_signature) == {
        "network_error: POST /api/v1/orders/{n}/pay 502",
        "network_error: GET /api/v1/products/{n} 404",
    }
    pay = by_signature["network_error: POST /api/v1/orders/{n}/pay 502"]
    assert (pay.method, pay.path, pay.status, pay.count) == ("POST", "/api/v1/orders/{n}/pay", 502, 2)
    assert "token" not in pay.example
    assert digest.signals[0] is pay  # sorted by count, most first


def test_request_without_status_counts_only_with_an_explicit_failure_flag() -> None:
    digest = digest_events(
        "d:1",
        [
            request("GET", "https://api.example.com/api/stock", 0, failed=True),
            request("GET", "https://api.example.com/api/stock", None, error="net::ERR_CONNECTION_RESET"),
            request("GET", "https://api.example.com/api/abort", 0),
            request("GET", "https://api.example.com/api/unknown", None),
        ],
    )

    signal = only(digest)
    assert signal.signature == "network_error: GET /api/stock failed"
    assert signal.status is None
    assert signal.count == 2
    # No status and no failure flag: unreadable, so counted rather than dropped.
    assert digest.unclassified == {"request": 1}


def test_rage_dead_and_error_clicks_name_page_and_target() -> None:
    digest = digest_events(
        "d:1",
        [
            click(rage=True),
            click(rage=True),
            click("Apply coupon", dead=True),
            click("Place order", error=True, rage=True),
            click("Just a link"),
        ],
    )

    signatures = {signal.signature: signal.count for signal in digest.signals}
    assert signatures == {
        'rage_click: "Pay now" on /checkout/{n}': 2,
        'dead_click: "Apply coupon" on /checkout/{n}': 1,
        'error_click: "Place order" on /checkout/{n}': 1,
        'rage_click: "Place order" on /checkout/{n}': 1,
    }
    rage = digest.signals[0]
    assert (rage.kind, rage.page, rage.target) == ("rage_click", "/checkout/{n}", "Pay now")


def test_click_without_text_is_named_by_its_selector() -> None:
    event = raw(
        "click", {"target": {"text": "", "raw_selector": "div#cart > button.checkout"}, "is_dead_click": True}
    )

    signal = only(digest_events("d:1", [event]))
    assert signal.target == "div#cart > button.checkout"


@pytest.mark.parametrize(
    ("event", "signature"),
    [
        (
            raw("console_message", {"console_message": "Boom 42", "console_level": "ERROR"}),
            "console_error: Boom {n}",
        ),
        (raw("console_message", {"text": "Boom", "level": "error"}), "console_error: Boom"),
        (
            raw("exception", {"exception_message": "x is not a function", "exception_type": "TypeError"}),
            "exception: TypeError: x is not a function",
        ),
        (raw("exception", {"error_message": "Script error."}), "exception: Script error."),
        (
            raw("request", {"request_method": "put", "request_url": "/api/items/9", "status": "500"}),
            "network_error: PUT /api/items/{n} 500",
        ),
        (
            raw("request", {"method": "GET", "url": "/api/me", "response_status": 401}),
            "network_error: GET /api/me 401",
        ),
        (raw("click", {"target": {"text": "Go"}, "mod_frustrated": 3}), 'rage_click: "Go" on /checkout/{n}'),
        (raw("click", {"target": {"text": "Go"}, "rage_click": True}), 'rage_click: "Go" on /checkout/{n}'),
        (raw("click", {"target": {"text": "Go"}, "mod_dead": 1}), 'dead_click: "Go" on /checkout/{n}'),
        (raw("click", {"target": {"text": "Go"}, "dead_click": True}), 'dead_click: "Go" on /checkout/{n}'),
        (raw("click", {"target": {"text": "Go"}, "mod_error": 2}), 'error_click: "Go" on /checkout/{n}'),
        (raw("click", {"target": {"text": "Go"}, "error_click": True}), 'error_click: "Go" on /checkout/{n}'),
    ],
)
def test_alternate_property_names_are_read(event: dict[str, Any], signature: str) -> None:
    assert only(digest_events("d:1", [event])).signature == signature


def test_zero_frustration_modifiers_are_ordinary_clicks() -> None:
    event = raw("click", {"target": {"text": "Go"}, "mod_frustrated": 0, "mod_dead": 0, "mod_error": 0})

    digest = digest_events("d:1", [event])
    assert digest.signals == ()
    assert digest.unclassified == {}


def test_unreadable_error_bearing_events_are_counted_not_dropped() -> None:
    digest = digest_events(
        "d:1",
        [
            raw("console_message", {"message": "no level here"}),
            raw("console_message", {"level": "error"}),
            raw("console_message", {"message": "odd level", "level": "shout"}),
            raw("exception", {}),
            raw("request", {"method": "GET", "url": "/api/x"}),
            raw("click", None),
            "not an event",
        ],
    )

    assert digest.signals == ()
    assert digest.unclassified == {
        "click": 1,
        "console_message": 3,
        "exception": 1,
        "malformed": 1,
        "request": 1,
    }
    assert digest.event_count == 7


def test_unknown_and_harmless_types_count_only_in_totals() -> None:
    events = [
        raw("navigate", {"navigate_reason": "navigate"}, view="1", at="2024-04-03T17:00:00.000Z"),
        raw("load", {}, view="1", at="2024-04-03T17:00:01.000Z"),
        raw("change", {}, view="2", at="2024-04-03T17:05:00.000Z"),
        raw("some_future_type", {"anything": 1}, view="2", at="2024-04-03T17:01:00.000Z"),
        raw("console_message", {"message": "bad", "level": "error"}, view="3", at="2024-04-03T16:59:00.000Z"),
    ]

    digest = digest_events("d:1", {"events": events})
    assert digest.event_count == 5
    assert digest.page_count == 3
    assert digest.unclassified == {}
    assert [signal.kind for signal in digest.signals] == ["console_error"]
    assert (digest.first_event, digest.last_event) == ("2024-04-03T16:59:00.000Z", "2024-04-03T17:05:00.000Z")


def test_examples_are_short_and_mask_emails() -> None:
    message = "Checkout failed for jane.doe@example.com " + "x" * 1000
    signal = only(digest_events("d:1", [console(message)]))

    assert len(signal.example) <= MAX_EXAMPLE_CHARS
    assert "jane.doe@example.com" not in signal.example
    assert "j***@example.com" in signal.example
    assert "{email}" in signal.signature


# --- normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "TypeError: Cannot read properties of undefined (reading 'total')",
            "TypeError: Cannot read properties of undefined (reading 'total')",
        ),
        (
            "Failed to load resource: https://cdn.example.com/img/3f2a9b1c4d.png",
            "Failed to load resource: /img/{hex}.png",
        ),
        ("Order 12345 not found", "Order {n} not found"),
        ("Session 550e8400-e29b-41d4-a716-446655440000 expired", "Session {uuid} expired"),
        ("Bad token deadbeef01 and 0x1f", "Bad token {hex} and {hex}"),
        ("No account for jane.doe+shop@example.co.uk", "No account for {email}"),
        ('Invalid value "red shoes" for field "color"', 'Invalid value "{s}" for field "color"'),
        (
            "Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON",
            "Unexpected token '{s}', \"{s}\"... is not valid JSON",
        ),
        ("Request at 2024-04-03T17:06:12.290Z timed out", "Request at {ts} timed out"),
        ("cart_item1234567 missing", "cart_item{n} missing"),
        ("Can't find variable: gtag", "Can't find variable: gtag"),
        ("Error: boom\n    at pay (main.js:1:2)", "Error: boom"),
        ("api v1 uses utf8 and h264", "api v1 uses utf8 and h264"),
    ],
)
def test_normalise_message_masks_variable_parts_and_keeps_the_rest(text: str, expected: str) -> None:
    assert normalise_message(text) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.example.com/api/v1/orders/98765/pay?token=abc#x", "/api/v1/orders/{n}/pay"),
        ("/api/v1/orders/550e8400-e29b-41d4-a716-446655440000/", "/api/v1/orders/{uuid}"),
        ("/img/3f2a9b1c4d.png", "/img/{hex}.png"),
        ("/users/jane%40example.com/prefs", "/users/{email}/prefs"),
        ("/reset/Xk3jd92KdlS0aQ1zZ", "/reset/{id}"),
        ("https://shop.example.com", "/"),
        ("https://shop.example.com/#/orders/77?tab=2", "/#/orders/{n}"),
        ("api/search", "/api/search"),
    ],
)
def test_normalise_path_drops_host_and_query_and_masks_ids(url: str, expected: str) -> None:
    assert normalise_path(url) == expected


# --- grouping across sessions ---------------------------------------------------------------------


def test_same_failing_endpoint_in_ten_sessions_is_one_group() -> None:
    digests = [
        digest_events(
            f"device{index}:session{index}",
            [
                raw(
                    "request",
                    {
                        "method": "POST",
                        "url": f"https://api.example.com/api/v1/orders/{1000 + index}/pay?cart={index}",
                        "status_code": 502,
                    },
                    at=f"2024-04-03T17:{index:02d}:00.000Z",
                ),
                raw(
                    "exception",
                    {
                        "name": "Error",
                        "message": f"Payment {index * 7919} failed for order 9f{index}a2b3c4d5e6f7 "
                        f"(request 550e8400-e29b-41d4-a716-44665544{index:04d})",
                    },
                ),
            ],
        )
        for index in range(10)
    ]

    groups = group_errors(digests)

    assert [group.signature for group in groups] == [
        "exception: Error: Payment {n} failed for order {hex} (request {uuid})",
        "network_error: POST /api/v1/orders/{n}/pay 502",
    ]
    pay = groups[1]
    assert pay.kind == "network_error"
    assert pay.count == 10
    assert pay.sessions == tuple(sorted(f"device{index}:session{index}" for index in range(10)))
    assert (pay.first_seen, pay.last_seen) == ("2024-04-03T17:00:00.000Z", "2024-04-03T17:09:00.000Z")
    assert "/orders/1000/pay" in pay.example  # the earliest occurrence, host and path as seen


def test_different_bugs_are_different_groups_ranked_by_sessions_then_count() -> None:
    checkout = request("POST", "/api/checkout", 500)
    digests = [
        digest_events("a:1", [checkout, checkout, checkout, console("Stripe is not defined")]),
        digest_events("b:2", [checkout, request("POST", "/api/checkout", 503)]),
        digest_events("c:3", [console("Stripe is not defined"), click(rage=True)]),
        digest_events("d:4", [request("POST", "/api/checkout", 503)]),
    ]

    groups = group_errors(digests)

    assert [(group.signature, len(group.sessions), group.count) for group in groups] == [
        ("network_error: POST /api/checkout 500", 2, 4),
        ("console_error: Stripe is not defined", 2, 2),
        ("network_error: POST /api/checkout 503", 2, 2),
        ('rage_click: "Pay now" on /checkout/{n}', 1, 1),
    ]
    assert group_errors(digests, limit=1) == groups[:1]


# --- Generate Context ---------------------------------------------------------------------------


def test_context_events_are_classified_by_fullstorys_type() -> None:
    document = {
        "context_data": {
            "context": {"session_id": "d:1"},
            "pages": [
                {
                    "url": "https://shop.example.com/checkout/31?x=1",
                    "title": "Checkout",
                    "events": [
                        {
                            "type": "navigate",
                            "description": "Visited checkout",
                            "timestamp": "2024-04-03T17:00:00Z",
                        },
                        {
                            "type": "console-error",
                            "description": "Console error",
                            "content": "Uncaught ReferenceError: Stripe is not defined",
                            "timestamp": "2024-04-03T17:00:05Z",
                            "properties": {},
                        },
                        {
                            "type": "network-error",
                            "description": "Network request failed",
                            "timestamp": "2024-04-03T17:00:06Z",
                            "properties": {"method": "POST", "url": "/api/orders/31/pay", "status_code": 502},
                        },
                        {
                            "type": "network-error",
                            "description": "POST https://api.example.com/api/orders/32/pay returned 502",
                            "timestamp": 1712163607000,
                        },
                        {
                            "type": "rage-click",
                            "content": "Pay now",
                            "timestamp": "2024-04-03T17:00:08Z",
                        },
                        {
                            "type": "dead-click",
                            "properties": {"target": {"text": "Apply", "raw_selector": "button.apply"}},
                            "timestamp": "2024-04-03T17:00:09Z",
                        },
                        {
                            "type": "error-click",
                            "content": "Place order",
                            "timestamp": "2024-04-03T17:00:10Z",
                        },
                        {"type": "mouse-thrash", "timestamp": "2024-04-03T17:00:11Z"},
                    ],
                },
                {"url": "https://shop.example.com/", "events": [{"type": "console-error", "properties": {}}]},
            ],
        }
    }

    digest = digest_context("d:1", document)

    assert {signal.signature: signal.count for signal in digest.signals} == {
        "console_error: Uncaught ReferenceError: Stripe is not defined": 1,
        "network_error: POST /api/orders/{n}/pay 502": 2,
        'rage_click: "Pay now" on /checkout/{n}': 1,
        'dead_click: "Apply" on /checkout/{n}': 1,
        'error_click: "Place order" on /checkout/{n}': 1,
    }
    # A console-error with no text at all cannot be named: counted, not dropped.
    assert digest.unclassified == {"console-error": 1}
    assert (digest.source, digest.event_count, digest.page_count) == ("context", 9, 2)
    assert (digest.first_event, digest.last_event) == ("2024-04-03T17:00:00.000Z", "2024-04-03T17:00:11.000Z")


def test_context_network_error_known_only_by_prose_still_groups() -> None:
    document = {
        "pages": [{"url": "/", "events": [{"type": "network-error", "description": "Request timed out"}]}]
    }

    signal = only(digest_context("d:1", document))
    assert signal.kind == "network_error"
    assert signal.signature == "network_error: Request timed out"


# --- segment export rows ------------------------------------------------------------------------


def export_row(user: str, session: str, event_type: str, **fields: Any) -> dict[str, Any]:
    return {
        "UserId": user,
        "SessionId": session,
        "PageId": fields.pop("PageId", "p1"),
        "EventType": event_type,
        "EventStart": fields.pop("EventStart", "2024-04-03T17:06:12Z"),
        "UserAppKey": f"uid-{user}",
        "UserEmail": f"{user}@example.com",
        **fields,
    }


def export_rows() -> list[dict[str, Any]]:
    return [
        export_row("111", "1", "navigate"),
        export_row(
            "111", "1", "request", ReqUrl="https://api.x/api/orders/5/pay", ReqMethod="POST", ReqStatus=502
        ),
        export_row(
            "222", "2", "console_message", EventSubType="error", EventTargetText="Stripe is not defined"
        ),
        export_row("222", "2", "console_message", EventSubType="warn", EventTargetText="deprecated"),
        export_row(
            "222", "2", "exception", EventSubType="uncaught", EventTargetText="TypeError: x is undefined"
        ),
        export_row(
            "222",
            "2",
            "click",
            PageUrl="https://shop.x/checkout",
            EventTargetText="Pay now",
            EventModFrustrated="4",
            EventModError=3,
        ),
        export_row("222", "2", "request", ReqUrl="/api/cart", ReqMethod="GET", ReqStatus="200"),
        export_row("333", "3", "click", EventTargetText="Help", EventModDead=1, PageId="p2"),
        export_row("000", "0", "request", ReqUrl="/api/orders/9/pay", ReqMethod="POST", ReqStatus=502),
        export_row("444", "4", "navigate"),
        export_row("555", "5", "request", ReqUrl="/api/x"),
        {"EventType": "click", "UserId": "999"},
    ]


def test_export_rows_are_grouped_by_api_session_and_ranked_by_error_signals() -> None:
    ranking = rank_export_sessions(export_rows())

    assert [(session.session_id, session.error_signal_count) for session in ranking.sessions] == [
        ("222:2", 4),
        ("000:0", 1),  # ties on one signal: session ID ascending
        ("111:1", 1),
        ("333:3", 1),
        ("444:4", 0),
        ("555:5", 0),
    ]
    top = ranking.sessions[0]
    assert (top.uid, top.email, top.event_count) == ("uid-222", "222@example.com", 5)
    assert top.counts == {"console_error": 1, "exception": 1, "rage_click": 1, "error_click": 1}
    assert ranking.sessions[-1].unclassified_count == 1  # a request row without ReqStatus
    assert (ranking.row_count, ranking.rows_without_session) == (12, 1)


def test_export_rows_digest_into_groups_without_fetching_events() -> None:
    digests = digest_export_rows(export_rows())

    assert [digest.session_id for digest in digests][:2] == ["222:2", "000:0"]
    groups = group_errors(digests)
    assert groups[0].signature == "network_error: POST /api/orders/{n}/pay 502"
    assert groups[0].sessions == ("000:0", "111:1")
    assert {digest.source for digest in digests} == {"export"}


# --- bounds and serialisation -------------------------------------------------------------------


def test_distinct_signals_beyond_the_cap_are_merged_into_overflow() -> None:
    events = [console(f"Bug {chr(65 + index)}") for index in range(8)] + [console("Bug A")] * 4

    digest = digest_events("d:1", events, max_signals=5)

    assert len(digest.signals) == 5
    assert digest.signals[0].signature == "console_error: Bug A"
    assert digest.signals[0].count == 5
    assert (digest.overflow_signals, digest.overflow_count) == (3, 3)
    assert digest.error_signal_count == 12
    assert sum(signal.count for signal in digest.signals) + digest.overflow_count == digest.error_signal_count


def test_everything_serialises_to_plain_json() -> None:
    digests = [
        digest_events("a:1", [console("Bad 1"), request("GET", "/api/x", 500), click(rage=True)]),
        digest_context("b:2", {"pages": [{"url": "/", "events": [{"type": "dead-click", "content": "Go"}]}]}),
    ]
    payload: dict[str, Any] = {
        "digests": [digest.to_dict() for digest in digests],
        "groups": [group.to_dict() for group in group_errors(digests)],
        "ranking": rank_export_sessions(export_rows()).to_dict(),
    }

    assert json.loads(json.dumps(payload)) == payload
    assert [group["kind"] for group in payload["groups"]] == [
        "console_error",
        "dead_click",
        "network_error",
        "rage_click",
    ]
    assert payload["groups"][1]["sessions"] == ["b:2"]


def test_quoted_data_codes_are_masked_so_one_bug_is_one_group() -> None:
    # Upper-case codes with digits are data (coupons, SKUs); lower-case identifiers are code.
    assert normalise_message('Invalid coupon "LINUS37"') == normalise_message('Invalid coupon "GRACE12"')
    assert normalise_message('Invalid coupon "LINUS37"') == 'Invalid coupon "{s}"'
    assert normalise_message("SKU 'AB-1234' is out of stock") == "SKU '{s}' is out of stock"
    assert normalise_message("Cannot read properties of undefined (reading 'item2')").endswith(
        "(reading 'item2')"
    )
