"""The HTML report: one self-contained page, escaped and email-masked, with a timeline row per group."""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser
from typing import Any

from fstriage.core.html_report import TRACK_WIDTH, render_html
from fstriage.core.investigation import Evidence
from fstriage.core.report import build_report
from fstriage_cli.samples.fakes import MemoryFullstory
from tests.unit.test_report import (
    DATA,
    EMAIL,
    GENERATED,
    checkout_errors_alert,
    investigate,
    report_of,
    ten_noisy_sessions,
)

HOSTILE = '</code><script>alert(1)</script><img src="https://evil.example/x.png" onerror="alert(2)">'


class Page(HTMLParser):
    """The tags, attributes and text of a page, as a browser's parser would see them."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def having(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    def rows(self) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == "div" and "tl-row" in (a.get("class") or "")]


def checkout_report() -> dict[str, Any]:
    fake = MemoryFullstory(DATA)
    return report_of(investigate(fake, checkout_errors_alert()), fake)


def test_a_real_report_renders_headline_status_one_timeline_row_per_group_and_replay_links() -> None:
    report = checkout_report()
    assert report["error_groups"] and report["sessions"]

    page = Page(render_html(report))

    assert "".join(page.text).count(report["headline"]) >= 1
    assert page.having("span", id="status")
    rows = page.rows()
    assert [row["data-group"] for row in rows] == [str(n) for n in range(1, len(report["error_groups"]) + 1)]
    replays = {s["session_id"]: s["replay_url"] for s in report["sessions"]}
    links = {a["href"] for a in page.having("a")}
    for group in report["error_groups"]:
        # Every session a group hit is one click away: its mark on the timeline and its list entry.
        assert {replays[s] for s in group["sessions"]} <= links
        assert len(group["hits"]) == len(group["sessions"])
    marks = page.having("rect", **{"class": "hit"})
    assert len(marks) == sum(len(group["hits"]) for group in report["error_groups"])
    for mark in marks:
        assert 0 <= int(mark["x"] or -1) <= TRACK_WIDTH


def test_the_page_fetches_nothing_and_runs_no_script() -> None:
    page = Page(render_html(checkout_report()))

    assert not page.having("script")
    assert not [a for t, a in page.tags if t in ("img", "link", "iframe", "object", "embed", "image")]
    assert not [a for _, a in page.tags if any(k == "src" or k.startswith("on") for k in a)]
    [csp] = page.having("meta", **{"http-equiv": "Content-Security-Policy"})
    assert "default-src 'none'" in (csp["content"] or "")
    assert page.having("meta", name="viewport")
    for _, attrs in page.tags:
        if "href" in attrs:
            assert (attrs["href"] or "").startswith("https://"), attrs


def test_hostile_visitor_text_is_escaped_everywhere() -> None:
    report = checkout_report()
    report["headline"] = "Checkout " + HOSTILE
    report["trigger"]["text"] = HOSTILE
    report["notes"].append(HOSTILE)
    group = report["error_groups"][0]
    group["signature"] = group["example"] = HOSTILE
    report["sessions"][0]["summary"]["text"] = HOSTILE
    report["sessions"][0]["user"]["uid"] = HOSTILE
    # A replay URL that is not http(s) is never made a link.
    report["sessions"][1]["replay_url"] = "javascript:alert(3)"

    html_text = render_html(report)
    page = Page(html_text)

    assert "<script>" not in html_text and "<img" not in html_text
    assert not page.having("script") and not page.having("img")
    assert HOSTILE in "".join(page.text)  # shown as text, as the visitor wrote it
    assert "javascript:" not in " ".join(a.get("href") or "" for _, a in page.tags)


def test_emails_are_masked_as_in_the_markdown() -> None:
    report, _ = ten_noisy_sessions()  # console messages quote each user's email
    report["trigger"]["text"] = "Reported by jane.doe@example.com: Pay now does nothing"
    first = report["sessions"][0]
    first["user"] = {
        "uid": "ada.lovelace@example.com",
        "email": "ada.lovelace@example.com",
        "display_name": "Ada",
    }
    first["summary"]["text"] = "The user (ada.lovelace@example.com) could not pay."
    report["notes"].append("Sessions of grace.hopper@example.com were skipped.")
    report["continuity"] = {
        "subject_key": "user:ada.lovelace@example.com",
        "previous": None,
        "horizon_days": 7,
        "new": ["console_error: failed for ada.lovelace@example.com"],
        "gone": [{"kind": "console_error", "signature": "x for bob.smith@example.com", "last_seen": None}],
    }

    page_text = render_html(report)

    assert EMAIL.findall(page_text) == [], EMAIL.findall(page_text)
    text = "".join(Page(page_text).text)
    assert "Reported by j***@example.com: Pay now does nothing" in text
    assert "a***@example.com" in text and "g***@example.com" in text and "b***@example.com" in text


def test_new_ongoing_and_gone_groups_are_marked_and_the_previous_report_linked() -> None:
    report = checkout_report()
    first, second = report["error_groups"][:2]
    first.update(state="new", ongoing_since=None)
    second.update(state="ongoing", ongoing_since="2026-10-30T08:00:00.000Z")
    report["quiet"] = False
    report["continuity"] = {
        "subject_key": "segment:checkout",
        "previous": {
            "investigation_id": "inv_" + "a" * 32,
            "generated_at": "2026-10-31T23:00:00.000Z",
            "json_key": "reports/2026/10/31/inv_" + "a" * 32 + ".json",
        },
        "horizon_days": 7,
        "new": [first["signature"]],
        "gone": [
            {"kind": "exception", "signature": "exception: Gone away", "last_seen": "2026-10-31T22:00:00Z"}
        ],
    }
    previous_url = "https://reports.example.test/previous.html?X-Amz-Signature=abc&X-Amz-Expires=60"

    page = Page(render_html(report, previous_url=previous_url))

    rows = page.rows()
    assert "new" in (rows[0]["class"] or "").split() and "ongoing" in (rows[1]["class"] or "").split()
    [new_item] = page.having("li", id="group-1")
    assert "new" in (new_item["class"] or "").split()
    assert page.having("ul", id="gone")
    text = "".join(page.text)
    assert "exception: Gone away" in text and "since 2026-10-30 08:00:00Z" in text
    assert page.having("a", href=previous_url)
    assert not page.having("span", id="quiet")


def test_a_quiet_report_says_so() -> None:
    report = checkout_report()
    report["quiet"] = True
    assert Page(render_html(report)).having("span", id="quiet")


def test_a_report_without_continuity_or_hits_still_renders() -> None:
    """Reports stored before continuity and per-session hit times existed."""
    report = checkout_report()
    old = copy.deepcopy(report)
    for group in old["error_groups"]:
        del group["hits"]
    assert "continuity" not in old

    page = Page(render_html(old))

    assert not page.having("section", id="continuity")
    assert len(page.rows()) == len(old["error_groups"])
    assert not page.having("rect", **{"class": "hit"})
    assert "without a time" in "".join(page.text)


def test_an_empty_report_renders_without_a_timeline() -> None:
    request = checkout_errors_alert()
    fake = MemoryFullstory(DATA)
    report = build_report(Evidence(request=request), fake.usage, GENERATED)
    assert report["sessions"] == [] and report["error_groups"] == []

    page = Page(render_html(report))

    assert page.rows() == []
    assert "No error groups in this window." in "".join(page.text)
    assert "No sessions in the window." in "".join(page.text)


def test_the_same_report_gives_the_same_bytes() -> None:
    report = checkout_report()
    assert render_html(report) == render_html(copy.deepcopy(report))
    assert re.search(r"<svg [^>]*viewBox=\"0 0 1000 22\"", render_html(report))
