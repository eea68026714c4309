import pytest

from fstriage.core.errors import PayloadError
from fstriage.core.session_ids import individual_id, normalise_session_id, replay_url


@pytest.mark.parametrize(
    "value",
    [
        "5557778531805533:1110765439578976",
        "5557778531805533!1110765439578976",
        "6915774531905556:5557778531805533!1110765439578976",
        "https://app.fullstory.com/ui/o-TEST-na1/session/6915774531905556:5557778531805533!1110765439578976",
        "https://app.fullstory.com/ui/o-TEST-na1/session/5557778531805533:1110765439578976",
        "https://app.eu1.fullstory.com/ui/o-TEST-eu1/session/5557778531805533%3A1110765439578976",
        "https://app.fullstory.com/ui/o-TEST-na1/session/6915774531905556%3A5557778531805533%211110765439578976/",
        "  5557778531805533:1110765439578976  ",
    ],
)
def test_every_form_normalises_to_device_colon_session(value: str) -> None:
    assert normalise_session_id(value) == "5557778531805533:1110765439578976"


@pytest.mark.parametrize(
    ("value", "individual"),
    [
        ("6915774531905556:5557778531805533!1110765439578976", "6915774531905556"),
        (
            "https://app.fullstory.com/ui/o-TEST-na1/session/6915774531905556%3A5557778531805533%211110765439578976/",
            "6915774531905556",
        ),
        ("5557778531805533!1110765439578976", None),
        ("5557778531805533:1110765439578976", None),
        ("https://app.fullstory.com/ui/o/segments/x", None),
        ("not an id", None),
    ],
)
def test_the_individual_id_is_read_only_from_the_indv_form(value: str, individual: str | None) -> None:
    assert individual_id(value) == individual


@pytest.mark.parametrize(
    "value",
    [
        "",
        "just-one-part",
        "a:b:c",
        "https://app.fullstory.com/ui/o/segments/x",
        "a b:c",
        "a:b!",
        "x" * 200 + ":1",
    ],
)
def test_unrecognisable_ids_are_rejected(value: str) -> None:
    with pytest.raises(PayloadError):
        normalise_session_id(value)


def test_replay_url() -> None:
    assert (
        replay_url("https://app.fullstory.com/", "o-TEST-na1", "1:2")
        == "https://app.fullstory.com/ui/o-TEST-na1/session/1:2"
    )


@pytest.mark.parametrize(
    "value",
    [
        "https://[::1/session/12:34",  # unclosed IPv6 host
        "https://app\uff03fullstory.com/ui/o/session/12:34",  # full-width # (NFKC -> a delimiter)
        "https://app\u2100.fullstory.com/ui/o/session/12:34",  # a/c sign: NFKC gives a '/'
        "https://app.fullstory.com%EF%BC%83x/ui/o/session/12:34",  # the same, URL-encoded
        "//[v1.x/session/1:2",
    ],
)
def test_urls_that_urlsplit_cannot_parse_are_payload_errors(value: str) -> None:
    with pytest.raises(PayloadError) as raised:
        normalise_session_id(value)
    assert raised.value.reason == "invalid_session_id"
    assert raised.value.status == 400


def test_a_trailing_newline_is_not_part_of_an_id() -> None:
    with pytest.raises(PayloadError):
        normalise_session_id("5557778531805533:1110765439578976%0A")
