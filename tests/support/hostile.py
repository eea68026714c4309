"""Hostile requests for the webhook, as Hypothesis strategies, and the table of answers they may get.

`hostile_cases()` draws a `Case`: one function URL event (the request as Lambda hands it to the
handler) of one family:

- `signature`: a valid, new alert whose `Fullstory-Signature` is missing, empty, garbled, repeated,
  not base64, the wrong length, for another org, signed with another secret, stale, in the future,
  in milliseconds, or over other bytes;
- `replay`: a baseline delivery that was already accepted, sent again as it was or signed again;
- `body`: correctly signed bodies that are not a payload: not JSON, truncated, deep, huge, NUL
  bytes, invalid UTF-8, UTF-16, lone surrogates, `1e999`/`NaN`/`Infinity`, duplicate keys, ...;
- `field`: a baseline payload of every kind with one field (any depth) replaced by a value of
  another type, or removed. The event id is kept, so whatever is accepted is a duplicate;
- `stream`: `/streams/<token>` with a wrong token, source, body or field;
- `route`: wrong methods (`post` included), paths and content types.

Every case is built so that, by the documented contract, it must not be queued: it is refused
(4xx), acknowledged without queueing (the `test` button, events not investigated), or a duplicate
of a baseline. The only exception is flagged `may_queue`: a Stream whose optional context fields
(`event_type`, `url`, ...) hold other values of their own type (text, a time) is a legitimate, new
trigger, so the suite counts it apart and checks that it is queued at most once. A context field of
the wrong type is refused like any other.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from fstriage.core.http import HttpRequest, function_url_event
from fstriage.core.signature import sign
from fstriage_cli.samples import payloads
from fstriage_cli.samples.values import (
    FULLSTORY_STREAM_IP,
    OUTSIDE_STREAM_IP,
    TEST_ORG_ID,
    TEST_SIGNING_SECRET,
    TEST_STREAM_TOKEN,
)

TOLERANCE_SECONDS = 300  # the webhook's default SIGNATURE_TOLERANCE_SECONDS
MAX_BODY_BYTES = 1_048_576  # its default MAX_BODY_BYTES
MAX_JSON_DEPTH = 32
JSON = "application/json"

# (status, reason) pairs the README's route and troubleshooting tables and the webhook contract
# document. The reason is the body's `error` (refusals), `reason` (acknowledgements) or `status`.
ALLOWED: frozenset[tuple[int, str]] = frozenset(
    {
        (200, "duplicate"),
        (200, "test_event"),
        (202, "not_investigated"),
        (202, "unsupported_event"),
        (400, "invalid_payload"),
        (400, "invalid_json"),
        (400, "invalid_encoding"),
        (400, "invalid_unicode"),
        (400, "duplicate_key"),
        (400, "too_deep"),
        (400, "invalid_session_id"),
        (400, "no_subject"),
        (400, "unsupported_version"),
        (401, "missing_signature"),
        (401, "malformed_signature"),
        (401, "bad_signature"),
        (401, "wrong_org"),
        (401, "stale_timestamp"),
        (403, "bad_stream_token"),
        (403, "source_not_allowed"),
        (403, "streams_disabled"),
        (404, "not_found"),
        (405, "method_not_allowed"),
        (413, "body_too_large"),
        (413, "payload_too_large"),
        (415, "unsupported_media_type"),
        # A wrong digest with a fresh `t` while the forced secret refresh is rate-limited: it may be
        # signed with a secret rotated since, so the sender is asked to retry (with Retry-After).
        (503, "secret_refresh_limited"),
    }
)
# Only for `may_queue` cases (and the baselines).
QUEUED = (202, "queued")


def answer_key(response: dict[str, Any]) -> tuple[int, str]:
    """(status, reason) of a function URL response."""
    status = int(response["statusCode"])
    try:
        body = json.loads(response.get("body") or "{}")
    except ValueError:
        return status, "<not json>"
    if not isinstance(body, dict):
        return status, "<not an object>"
    reason = body.get("error") or body.get("reason") or body.get("status") or "<none>"
    return status, str(reason)


@dataclass(frozen=True)
class Case:
    family: str
    variant: str
    event: dict[str, Any]
    may_queue: bool = False

    @property
    def label(self) -> str:
        return f"{self.family}/{self.variant}"


# ---------------------------------------------------------------------------------------------
# Baselines: one valid delivery of each kind, each with its own event id, accepted once up front.


def _with_id(document: dict[str, Any], event_id: str) -> dict[str, Any]:
    document["data"]["id"] = event_id
    return document


def baseline_documents() -> dict[str, dict[str, Any]]:
    return {
        "segment.trend.alert": _with_id(payloads.segment_alert(), "hostile-baseline-segment"),
        "metric.alert": _with_id(payloads.metric_alert(), "hostile-baseline-metric"),
        "note.created": _with_id(payloads.note_created(), "hostile-baseline-note"),
        "recording.event.custom": _with_id(payloads.custom_event(), "hostile-baseline-custom"),
    }


# Verified but never investigated: the `test` button, events we acknowledge, names we do not know.
ACKNOWLEDGED_DOCUMENTS: dict[str, dict[str, Any]] = {
    "test": payloads.endpoint_test(),
    "segment.created": payloads.segment_created(),
    "unknown": payloads.unknown_event(),
}


# The events the suite sent for the baselines (filled in by the test), for exact replays.
ACCEPTED: dict[str, dict[str, Any]] = {}


def baseline_stream() -> dict[str, Any]:
    return payloads.stream_session(payloads.SESSION_URL, stream_name="Hostile baseline stream")


def event_for(
    body: bytes,
    *,
    headers: dict[str, str | None] | None = None,
    method: str = "POST",
    path: str = "/",
    source_ip: str = "34.1.2.3",
    base64_body: bool = False,
) -> dict[str, Any]:
    """The function URL event for one request. Bytes that are not UTF-8 go base64, as a function URL
    sends them."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        base64_body = True
    merged: dict[str, str | None] = {"content-type": JSON, "user-agent": "Fullstory-Webhooks"}
    merged.update(headers or {})  # None removes a header
    request = HttpRequest(method, path, {k: v for k, v in merged.items() if v is not None}, body, source_ip)
    return function_url_event(request, base64_body=base64_body)


def signed_event(body: bytes, *, timestamp: int | None = None, **options: Any) -> dict[str, Any]:
    headers: dict[str, str | None] = dict(options.pop("headers", None) or {})
    headers["fullstory-signature"] = sign(TEST_SIGNING_SECRET, body, TEST_ORG_ID, timestamp)
    return event_for(body, headers=headers, **options)


def stream_event(
    body: bytes, *, token: str = TEST_STREAM_TOKEN, source_ip: str = FULLSTORY_STREAM_IP, **options: Any
) -> dict[str, Any]:
    return event_for(body, path=f"/streams/{token}", source_ip=source_ip, **options)


def now() -> int:
    return int(time.time())


# ---------------------------------------------------------------------------------------------
# Values


# Stand-ins replaced in the serialised text by what `json.dumps` cannot write.
_RAW = {
    "__raw_1e999__": "1e999",
    "__raw_neg_1e999__": "-1e999",
    "__raw_nan__": "NaN",
    "__raw_inf__": "Infinity",
    "__raw_neg_inf__": "-Infinity",
    "__raw_big_exponent__": "1E400",
    "__raw_lone_high__": '"\\ud800"',
    "__raw_lone_low__": '"tail \\uDFFF"',
    "__raw_reversed_pair__": '"\\ude00\\ud83d"',
}


def render(document: Any) -> bytes:
    """Serialise, then swap the stand-ins for raw non-finite numbers and lone-surrogate escapes."""
    text = json.dumps(document, separators=(",", ":"))
    for stand_in, raw in _RAW.items():
        text = text.replace(json.dumps(stand_in), raw)
    return text.encode()


def _nest(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"n": value}
    return value


# JSON values of every type, the awkward ones included.
_ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    10**400,  # 401 digits: float() overflows
    1.5,
    1.7e308,
    -0.0,
    "",
    " ",
    "x",
    "x" * 3000,  # over the 2,048-character field limit
    "\x00",
    "ada.lovelace@example.com",
    "١٢٣",  # Arabic-Indic digits: str.isdigit() is True
    "2026-13-45T99:99:99Z",
    "https://[::1/session/12:34",
    "https://app\uff03fullstory.com/ui/o/session/12:34",
    "https://app.fullstory.com/ui/o/session/%ZZ:%00",
    "NaN",
    "1e999",
    "Infinity",
    [],
    [1, "two", None],
    {},
    {"nested": {"deeper": [1, 2, 3]}},
    _nest(10),
    *_RAW,  # non-finite numbers and lone surrogates
]

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
odd_values: st.SearchStrategy[Any] = st.sampled_from(_ODD_VALUES) | json_values

# Values an event id may never take: each is refused, so changing the id never makes a new event.
refused_ids: st.SearchStrategy[Any] = st.sampled_from(
    [True, False, [], ["id"], {}, {"id": 1}, "x" * 3000, *_RAW]
)


def field_paths(document: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key path in a document (containers and leaves)."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield (*prefix, key)
            yield from field_paths(value, (*prefix, key))


# Fields the payloads may carry that the baselines leave out.
_EXTRA_FIELDS: dict[str, list[tuple[str, ...]]] = {
    "segment.trend.alert": [("data", "alertConfig", "alertName"), ("version",)],
    "metric.alert": [("data", "alertConfig", "threshold"), ("data", "alertConfig", "direction")],
    "note.created": [("data", "properties")],
    "recording.event.custom": [("data", "properties", "extra"), ("data", "notedTime")],
}
_DELETE = object()


def _replace(document: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = document
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    if value is _DELETE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


# ---------------------------------------------------------------------------------------------
# Families


@st.composite
def _signature_case(draw: st.DrawFn) -> Case:
    """A new, valid alert (it would be queued if it were authentic) with a bad signature header."""
    document = payloads.segment_alert(id=f"forged-{draw(st.integers(0, 10**9))}")
    body = payloads.body_of(document)
    stamp = now()
    good = sign(TEST_SIGNING_SECRET, body, TEST_ORG_ID, stamp)
    digest = good.rsplit("v:", 1)[1]
    raw_digest = base64.b64decode(digest)
    variant = draw(
        st.sampled_from(
            [
                "missing",
                "empty",
                "spaces",
                "garbage",
                "no_separators",
                "empty_parts",
                "missing_o",
                "missing_t",
                "missing_v",
                "repeated_key",
                "two_headers_joined",
                "not_base64",
                "base64url",
                "short_digest",
                "long_digest",
                "random_digest",
                "other_secret",
                "other_org_signed",
                "other_org_claimed",
                "stale",
                "future",
                "stale_ms",
                "future_ms",
                "negative_t",
                "non_numeric_t",
                "unicode_digits_t",
                "huge_t",
                "float_t",
                "too_long",
                "body_changed",
                "signed_other_body",
                "arbitrary",
            ]
        )
    )
    header: str | None
    sent = body
    match variant:
        case "missing":
            header = None
        case "empty":
            header = ""
        case "spaces":
            header = "   "
        case "garbage":
            header = draw(st.text(max_size=60))
        case "no_separators":
            header = f"o{TEST_ORG_ID}t{stamp}v{digest}"
        case "empty_parts":
            header = "o:,t:,v:"
        case "missing_o":
            header = f"t:{stamp},v:{digest}"
        case "missing_t":
            header = f"o:{TEST_ORG_ID},v:{digest}"
        case "missing_v":
            header = f"o:{TEST_ORG_ID},t:{stamp}"
        case "repeated_key":
            header = good + f",v:{digest}"
        case "two_headers_joined":  # how a function URL joins a repeated header
            header = f"{good},{good}"
        case "not_base64":
            header = f"o:{TEST_ORG_ID},t:{stamp},v:{digest[:-4]}!@#$"
        case "base64url":
            header = f"o:{TEST_ORG_ID},t:{stamp},v:{base64.urlsafe_b64encode(b'\xfb\xff' * 16).decode()}"
        case "short_digest":
            header = f"o:{TEST_ORG_ID},t:{stamp},v:{base64.b64encode(raw_digest[:31]).decode()}"
        case "long_digest":
            header = f"o:{TEST_ORG_ID},t:{stamp},v:{base64.b64encode(raw_digest + b'0').decode()}"
        case "random_digest":
            random = draw(st.binary(min_size=32, max_size=32))
            header = f"o:{TEST_ORG_ID},t:{stamp},v:{base64.b64encode(random).decode()}"
        case "other_secret":
            header = sign(
                draw(st.sampled_from(["wrong", TEST_SIGNING_SECRET + " ", ""])), body, TEST_ORG_ID, stamp
            )
        case "other_org_signed":
            header = sign(
                TEST_SIGNING_SECRET,
                body,
                draw(st.sampled_from(["o-EVIL-na1", "o-test-na1", ""])) or "x",
                stamp,
            )
        case "other_org_claimed":  # the digest is ours, the claimed org is not
            header = f"o:o-EVIL-na1,t:{stamp},v:{digest}"
        case "stale":
            header = sign(
                TEST_SIGNING_SECRET,
                body,
                TEST_ORG_ID,
                stamp - draw(st.integers(TOLERANCE_SECONDS + 5, 10**9)),
            )
        case "future":
            header = sign(
                TEST_SIGNING_SECRET,
                body,
                TEST_ORG_ID,
                stamp + draw(st.integers(TOLERANCE_SECONDS + 5, 10**10)),
            )
        case "stale_ms":
            offset = draw(st.integers(TOLERANCE_SECONDS + 5, 10**8))
            header = sign(TEST_SIGNING_SECRET, body, TEST_ORG_ID, (stamp - offset) * 1000)
        case "future_ms":
            offset = draw(st.integers(TOLERANCE_SECONDS + 5, 10**8))
            header = sign(TEST_SIGNING_SECRET, body, TEST_ORG_ID, (stamp + offset) * 1000)
        case "negative_t":
            header = f"o:{TEST_ORG_ID},t:-{stamp},v:{digest}"
        case "non_numeric_t":
            header = (
                f"o:{TEST_ORG_ID},t:{draw(st.sampled_from(['now', '0x10', '1e9', ' ', '12 34']))},v:{digest}"
            )
        case "unicode_digits_t":
            arabic_indic = str(stamp).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
            header = f"o:{TEST_ORG_ID},t:{arabic_indic},v:{digest}"
        case "huge_t":
            header = f"o:{TEST_ORG_ID},t:{'9' * draw(st.integers(17, 400))},v:{digest}"
        case "float_t":
            header = f"o:{TEST_ORG_ID},t:{stamp}.5,v:{digest}"
        case "too_long":
            header = good + ",x:" + "a" * 1100
        case "body_changed":  # signed, then the body changed in transit
            header = good
            sent = draw(st.sampled_from([body + b" ", body[:-1], body.replace(b"42", b"43"), b" " + body]))
        case "signed_other_body":
            header = sign(TEST_SIGNING_SECRET, payloads.body_of(payloads.metric_alert()), TEST_ORG_ID, stamp)
        case _:
            header = draw(st.text(max_size=200))
    headers: dict[str, str | None] = {"fullstory-signature": header}
    return Case("signature", variant, event_for(sent, headers=headers, base64_body=draw(st.booleans())))


@st.composite
def _replay_case(draw: st.DrawFn) -> Case:
    """An already-accepted baseline, again: as it was, or signed again (a sender's retry)."""
    name = draw(st.sampled_from(sorted(baseline_documents())))
    body = payloads.body_of(baseline_documents()[name])
    variant = draw(
        st.sampled_from(["exact", "re_signed", "re_signed_ms", "re_signed_reordered", "stale", "future"])
    )
    if variant == "exact" and name in ACCEPTED:
        return Case("replay", f"exact:{name}", copy.deepcopy(ACCEPTED[name]))
    stamp = now()
    match variant:
        case "re_signed" | "exact":
            header = sign(TEST_SIGNING_SECRET, body, TEST_ORG_ID, stamp - draw(st.integers(0, 60)))
        case "re_signed_ms":
            header = sign(TEST_SIGNING_SECRET, body, TEST_ORG_ID, stamp * 1000 - draw(st.integers(0, 60_000)))
        case "re_signed_reordered":
            o, t, v = sign(TEST_SIGNING_SECRET, body, TEST_ORG_ID, stamp).split(",")
            header = f" {v} , {t.upper()} ,{o} "
        case "stale":
            header = sign(
                TEST_SIGNING_SECRET,
                body,
                TEST_ORG_ID,
                stamp - TOLERANCE_SECONDS - draw(st.integers(1, 10**6)),
            )
        case _:
            header = sign(
                TEST_SIGNING_SECRET,
                body,
                TEST_ORG_ID,
                stamp + TOLERANCE_SECONDS + draw(st.integers(1, 10**6)),
            )
    event = event_for(body, headers={"fullstory-signature": header}, base64_body=draw(st.booleans()))
    return Case("replay", f"{variant}:{name}", event)


def _deep(depth: int, *, arrays: bool) -> bytes:
    inner = b"[" * depth + b"1" + b"]" * depth if arrays else b'{"a":' * depth + b"1" + b"}" * depth
    return b'{"eventName":"segment.trend.alert","data":' + inner + b"}"


_BODY_VARIANTS = [
    "empty",
    "not_json",
    "binary",
    "truncated",
    "deep_objects",
    "deep_arrays",
    "very_deep",
    "huge",
    "huge_valid_json",
    "nul_raw",
    "nul_outside",
    "invalid_utf8",
    "utf8_encoded_surrogate",
    "utf16",
    "bom",
    "lone_surrogate",
    "lone_surrogate_key",
    "non_finite",
    "duplicate_key",
    "duplicate_event_name",
    "top_level_array",
    "top_level_scalar",
    "trailing_garbage",
    "two_documents",
]


def _hostile_body(draw: st.DrawFn, document: dict[str, Any]) -> tuple[str, bytes]:
    """A body made from a valid `document` that is not a payload (or, for `huge_valid_json`, the same
    payload padded with an unknown field)."""
    valid = payloads.body_of(document)
    variant = draw(st.sampled_from(_BODY_VARIANTS))
    match variant:
        case "empty":
            body = b""
        case "not_json":
            body = draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
        case "binary":
            body = draw(st.binary(max_size=200))
        case "truncated":
            body = valid[: draw(st.integers(0, len(valid) - 1))]
        case "deep_objects" | "deep_arrays":
            body = _deep(draw(st.integers(MAX_JSON_DEPTH, 2000)), arrays=variant == "deep_arrays")
        case "very_deep":
            body = _deep(draw(st.sampled_from([50_000, 200_000])), arrays=draw(st.booleans()))
        case "huge":
            body = valid + b" " * (MAX_BODY_BYTES + draw(st.integers(0, 4096)))
        case "huge_valid_json":  # under the cap: one enormous field nobody reads
            body = payloads.body_of(
                {**document, "padding": "p" * draw(st.integers(100_000, MAX_BODY_BYTES - 4_000))}
            )
        case "nul_raw":
            body = valid.replace(b'":"', b'":"\x00', 1)
        case "nul_outside":
            body = b"\x00" + valid
        case "invalid_utf8":
            body = valid.replace(b'":"', b'":"\xff\xfe', 1)
        case "utf8_encoded_surrogate":
            body = valid.replace(b'":"', b'":"\xed\xa0\x80', 1)
        case "utf16":
            body = valid.decode().encode(draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32"])))
        case "bom":
            body = b"\xef\xbb\xbf" + valid
        case "lone_surrogate" | "non_finite":
            lone = variant == "lone_surrogate"
            stand_ins = [key for key in _RAW if ("lone" in key or "pair" in key) == lone]
            mutated = copy.deepcopy(document)
            _replace(
                mutated, draw(st.sampled_from(sorted(field_paths(mutated)))), draw(st.sampled_from(stand_ins))
            )
            body = render(mutated)
        case "lone_surrogate_key":
            mutated = copy.deepcopy(document)
            path = draw(st.sampled_from(sorted(field_paths(mutated))))
            _replace(mutated, (*path[:-1], "__key__"), 1)
            body = render(mutated).replace(b'"__key__"', b'"\\udc80key"')
        case "duplicate_key":  # any key of any object, repeated with another value
            path = draw(st.sampled_from(sorted(field_paths(document))))
            key = json.dumps(path[-1]).encode()
            body = valid.replace(key + b":", key + b':"another",' + key + b":", 1)
        case "duplicate_event_name":
            body = b'{"eventName":"test",' + valid[1:]
        case "top_level_array":
            body = b"[" + valid + b"]"
        case "top_level_scalar":
            body = draw(st.sampled_from([b"null", b"1", b'"text"', b"true", b"1e999", b"NaN"]))
        case "trailing_garbage":
            body = valid + b"x"
        case _:
            body = valid + valid
    return variant, body


@st.composite
def _body_case(draw: st.DrawFn) -> Case:
    """Correctly signed, fresh, right org: only the body is wrong."""
    name = draw(st.sampled_from(sorted(baseline_documents())))
    variant, body = _hostile_body(draw, baseline_documents()[name])
    return Case("body", f"{variant}:{name}", signed_event(body, base64_body=draw(st.booleans())))


@st.composite
def _field_case(draw: st.DrawFn) -> Case:
    """A baseline with one field given another type (or removed), correctly signed. The id is kept
    (or made invalid), so anything accepted is the baseline's event again: a duplicate."""
    documents = {**baseline_documents(), **copy.deepcopy(ACKNOWLEDGED_DOCUMENTS)}
    name = draw(st.sampled_from(sorted(documents)))
    document = documents[name]
    paths = sorted({*field_paths(document), *_EXTRA_FIELDS.get(name, [])})
    path = draw(st.sampled_from(paths))
    if path == ("data", "id"):
        value = draw(refused_ids)
    elif path == ("eventName",):
        value = draw(
            st.sampled_from(
                [None, 1, True, "", [], {}, "test", "segment.created", name.upper(), name + " ", "x" * 5000]
            )
            | st.text(max_size=30).filter(lambda text: text not in baseline_documents())
        )
    else:
        value = draw(st.just(_DELETE) | odd_values)
    _replace(document, path, value)
    event = signed_event(render(document), base64_body=draw(st.booleans()))
    return Case("field", f"{name}:{'.'.join(path)}", event)


# Stream fields the intake reads as text whatever their type: a Stream with odd values there is
# a new, legitimate trigger.
_STREAM_CONTEXT_FIELDS = ("event_time", "event_type", "url", "page_name", "target_text", "stream")
_STREAM_SUBJECT_FIELDS = ("app_url_session", "client_session_id", "session_id", "user_id", "user_email")


@st.composite
def _stream_case(draw: st.DrawFn) -> Case:
    document = baseline_stream()
    variant = draw(
        st.sampled_from(
            [
                "replay",
                "wrong_token",
                "token_case",
                "token_prefix",
                "outside_source",
                "bad_source",
                "no_subject",
                "subject_type",
                "nested_subject_type",
                "session_id_form",
                "stream_name_type",
                "org_scoped_device",
                "context_field",
                "body",
            ]
        )
    )
    token, source_ip, may_queue = TEST_STREAM_TOKEN, FULLSTORY_STREAM_IP, False
    match variant:
        case "replay":
            pass
        case "wrong_token":
            token = draw(st.text(alphabet=st.characters(blacklist_characters="/?#"), min_size=1, max_size=80))
            token = token if token != TEST_STREAM_TOKEN else token + "x"
        case "token_case":
            token = TEST_STREAM_TOKEN.upper()
        case "token_prefix":
            token = TEST_STREAM_TOKEN[: draw(st.integers(1, len(TEST_STREAM_TOKEN) - 1))]
        case "outside_source":
            source_ip = draw(
                st.sampled_from([OUTSIDE_STREAM_IP, "8.35.195.8", "34.89.210.88", "::1", "::ffff:8.35.195.3"])
            )
        case "bad_source":
            source_ip = draw(
                st.sampled_from(["", "localhost", "8.35.195.3, 1.2.3.4", "999.1.1.1", "8.35.195.3\x00"])
            )
        case "no_subject":
            for field in _STREAM_SUBJECT_FIELDS:
                document.pop(field, None)
            document[draw(st.sampled_from(_STREAM_SUBJECT_FIELDS))] = draw(st.sampled_from([None, ""]))
        case "subject_type":
            value = draw(
                odd_values.filter(
                    lambda v: not (v is None or v == "" or (isinstance(v, str) and len(v) <= 64))
                )
            )
            document[draw(st.sampled_from(_STREAM_SUBJECT_FIELDS))] = value
        case "nested_subject_type":
            document.pop("app_url_session")
            group = draw(st.sampled_from(["session", "user"]))
            field = draw(
                st.sampled_from(["session_id", "app_url_session", "client_session_id"])
                if group == "session"
                else st.sampled_from(["user_id", "user_email"])
            )
            document[group] = {field: draw(st.sampled_from([1, [], {}, True, "x" * 3000, *_RAW]))}
        case "session_id_form":
            document["app_url_session"] = draw(
                st.sampled_from(
                    [
                        "https://[::1/session/12:34",
                        "https://app\uff03fullstory.com/ui/o/session/12:34",
                        "not a session",
                        "a:b:c",
                        f"{TEST_ORG_ID}:123",
                    ]
                )
                # Without `:`, `!` or `%` (`%3A`), no text is a session id.
                | st.text(max_size=40).filter(lambda text: not {":", "!", "%"} & set(text) and text.strip())
            )
            if document["app_url_session"] == f"{TEST_ORG_ID}:123":  # Streams' own form, without device_id
                document["session_id"] = document.pop("app_url_session")
        case "org_scoped_device":  # Streams' own `orgId:sessionId` needs a device_id beside it
            document.pop("app_url_session")
            document["session_id"] = f"{TEST_ORG_ID}:1110765439578976"
            device = draw(
                st.sampled_from([_DELETE, None, "", True, [], {}, [1], {"id": 1}, "x" * 3000, *_RAW])
            )
            if device is not _DELETE:
                document["device_id"] = device
        case "stream_name_type":
            document["stream_name"] = draw(st.sampled_from([1, 1.5, True, [], {"a": 1}, *_RAW]))
        case "context_field":
            field, value = draw(st.sampled_from(_STREAM_CONTEXT_FIELDS)), draw(odd_values)
            document[field] = value
            # Only a value of the field's own type makes a legitimate new trigger; any other is a 400.
            may_queue = _context_value_is_legitimate(field, value)
        case _:
            body_variant, body = _hostile_body(draw, document)
            event = stream_event(body, base64_body=draw(st.booleans()))
            return Case("stream", f"body:{body_variant}", event)
    body = render(document)
    # A stand-in inside a context field renders to a refused body: not a new trigger after all.
    may_queue = may_queue and body == payloads.body_of(document)
    event = stream_event(body, token=token, source_ip=source_ip, base64_body=draw(st.booleans()))
    return Case("stream", variant, event, may_queue=may_queue)


def _context_value_is_legitimate(field: str, value: Any) -> bool:
    if value is None:
        return True
    if field == "event_time":
        return isinstance(value, str | int | float) and not isinstance(value, bool)
    if field == "stream":
        return isinstance(value, dict) and isinstance(value.get("name"), str | None)
    return isinstance(value, str)


@st.composite
def _route_case(draw: st.DrawFn) -> Case:
    """Valid, new and correctly signed deliveries, on the wrong method, path or content type."""
    document = payloads.segment_alert(id=f"misrouted-{draw(st.integers(0, 10**9))}")
    body = payloads.body_of(document)
    variant = draw(st.sampled_from(["method", "stream_method", "path", "content_type"]))
    headers: dict[str, str | None] = {}
    method, path = "POST", "/"
    match variant:
        case "method":
            method = draw(
                st.sampled_from(
                    ["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "post", "Post", "BREW", ""]
                )
            )
        case "stream_method":
            method, path = draw(st.sampled_from(["GET", "post", "PUT"])), f"/streams/{TEST_STREAM_TOKEN}"
        case "path":
            path = draw(
                st.sampled_from(
                    [
                        "/x",
                        "//",
                        "/streams",
                        "/streams/",
                        f"/streams/{TEST_STREAM_TOKEN}/x",
                        "/STREAMS/t",
                        "/%2F",
                        "/index.html",
                        "/ ",
                    ]
                )
                | st.text(min_size=1, max_size=30)
                .map(lambda text: "/" + text)
                # "/?x" is the root path with a query string: a right route, not a wrong one.
                .filter(lambda p: p.partition("?")[0] != "/" and not p.startswith("/streams/"))
            )
        case _:
            headers["content-type"] = draw(
                st.sampled_from(
                    [
                        None,
                        "",
                        "text/plain",
                        "application/x-www-form-urlencoded",
                        "application/jsonp",
                        "application/json; charset=utf-16",
                        "application/json; charset=UTF-16LE",
                        "application/json; charset=iso-8859-1",
                        "application/json; charset=utf-32",
                    ]
                )
            )
    signed = sign(TEST_SIGNING_SECRET, body, TEST_ORG_ID)
    merged = {"fullstory-signature": signed, **headers}
    return Case("route", variant, event_for(body, headers=merged, method=method, path=path))


FAMILIES: dict[str, Callable[[], st.SearchStrategy[Case]]] = {
    "signature": _signature_case,
    "replay": _replay_case,
    "body": _body_case,
    "field": _field_case,
    "stream": _stream_case,
    "route": _route_case,
}
# Draw weights: the field and body families have the most shapes to cover.
_WEIGHTS = {"signature": 3, "replay": 1, "body": 3, "field": 4, "stream": 3, "route": 1}


@st.composite
def hostile_cases(draw: st.DrawFn) -> Case:
    family = draw(st.sampled_from([name for name, weight in _WEIGHTS.items() for _ in range(weight)]))
    return draw(FAMILIES[family]())
